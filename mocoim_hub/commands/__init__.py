"""The command-line programs, each a `main(argv)` installed as a console script:

| console script | module | what it does |
|---|---|---|
| `mocoim-pretrain` | `pretrain` | pretrain from a recipe, save with a model card, push |
| `mocoim-finetune` | `finetune` | few-label evaluation (linear probes, fine-tuning) of encoders |
| `mocoim-analyze` | `analyze` | CKA, layer-wise probing and KS distance of encoders |
| `mocoim-extract` | `extract` | embed image files, save features as `.npz` |
| `mocoim-reproduce` | `reproduce` | the scaled-down reproduction study |
| `mocoim-hub` | `mocoim_hub.hub` | render model cards, push folders to the Hub |
| `mocoim-convert` | `mocoim_hub.convert` | import torchvision / MoCo / Lightning checkpoints |
| `mocoim-space` | `mocoim_hub.space` | package the Gradio demo as a Space and push it |

`training/*.py` in the source checkout are the same programs (`python training/pretrain.py`).
A program whose optional dependencies are missing stops with one line naming the extra to install;
one given a local model path that holds no model stops with one line saying so, before it writes
anything.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

from ..extras import MissingExtraError
from ..sources import ModelNotFoundError


def _console_script(module: str) -> Callable[[], None]:
    def run() -> None:
        try:
            sys.exit(importlib.import_module(module).main())
        except (MissingExtraError, ModelNotFoundError) as error:
            sys.exit(str(error))

    return run


pretrain = _console_script("mocoim_hub.commands.pretrain")
finetune = _console_script("mocoim_hub.commands.finetune")
analyze = _console_script("mocoim_hub.commands.analyze")
extract = _console_script("mocoim_hub.commands.extract")
reproduce = _console_script("mocoim_hub.commands.reproduce")
hub = _console_script("mocoim_hub.hub")
convert = _console_script("mocoim_hub.convert")
space = _console_script("mocoim_hub.space")
