"""The command-line programs, each a `main(argv)` installed as a console script:

| console script | module | what it does |
|---|---|---|
| `mocoim-pretrain` | `pretrain` | pretrain an encoder from a recipe, save it with its card, push it |
| `mocoim-finetune` | `finetune` | few-label evaluation (linear probes, fine-tuning) of encoders |
| `mocoim-analyze` | `analyze` | CKA, layer-wise probing and KS distance of encoders |
| `mocoim-extract` | `extract` | embed image files, save features as `.npz` |
| `mocoim-reproduce` | `reproduce` | the scaled-down reproduction study |
| `mocoim-hub` | `mocoim_hub.hub` | render model cards, push folders to the Hub |
| `mocoim-convert` | `mocoim_hub.convert` | import torchvision / MoCo / Lightning checkpoints |
| `mocoim-space` | `mocoim_hub.space` | package the Gradio demo as a Space and push it |

`training/*.py` in the source checkout are the same programs (`python training/pretrain.py`).
"""
