"""The command-line programs, each a `main(argv)` installed as a console script:

| console script | module | what it does |
|---|---|---|
| `mocoim-pretrain` | `pretrain` | pretrain from a recipe, save with a model card, push |
| `mocoim-finetune` | `finetune` | few-label evaluation (linear probes, fine-tuning) of encoders |
| `mocoim-analyze` | `analyze` | CKA, layer-wise probing and KS distance of encoders |
| `mocoim-extract` | `extract` | embed images and archives into resumable shards |
| `mocoim-export` | `export` | export an encoder to ONNX, TorchScript or an ExportedProgram |
| `mocoim-hub` | `hub` | render model cards, push folders to the Hub |
| `mocoim-convert` | `convert` | import torchvision / MoCo / Lightning checkpoints |
| `mocoim-space` | `space` | package the Gradio demo as a Space and push it |

Each parses its arguments, calls the library and turns its exceptions into exit codes; nothing
else. `training/*.py` in the source checkout are the same programs (`python training/pretrain.py`)
and the research studies, which are not installed.
A program whose optional dependencies are missing stops with one line naming the extra to install;
one given a local model path that holds no model stops with one line saying so, before it writes
anything. The entry points live in `console.py`: functions here would be shadowed by the
submodules of the same names once those are imported.
"""
