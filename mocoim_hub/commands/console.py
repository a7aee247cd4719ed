"""The console scripts' entry points (`mocoim-pretrain` -> `pretrain()`, ...; see
`mocoim_hub.commands`): each runs its module's `main()` and turns a missing extra or a missing
model folder (or one whose files link outside it) into one line and exit status 1."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

from ..extras import MissingExtraError
from ..sources import ModelNotFoundError, OpenModelFolderError


def _console_script(module: str) -> Callable[[], None]:
    def run() -> None:
        try:
            sys.exit(importlib.import_module(module).main())
        except (MissingExtraError, ModelNotFoundError, OpenModelFolderError) as error:
            sys.exit(str(error))

    return run


pretrain = _console_script("mocoim_hub.commands.pretrain")
finetune = _console_script("mocoim_hub.commands.finetune")
analyze = _console_script("mocoim_hub.commands.analyze")
extract = _console_script("mocoim_hub.commands.extract")
hub = _console_script("mocoim_hub.commands.hub")
convert = _console_script("mocoim_hub.commands.convert")
space = _console_script("mocoim_hub.commands.space")
export = _console_script("mocoim_hub.commands.export")
