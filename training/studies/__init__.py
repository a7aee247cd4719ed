"""The research studies behind `results/` (not part of the installed package): the scaled-down
reproduction (`training/reproduce.py`) and the learning curve (`training/curve.py`). Both train
in-process with `mocoim_hub.pretraining.pretrain` and score encoders on the recipe's own data.

- `runs`: the methods compared, run folders, resumable training under a time budget;
- `summaries`: results over pretraining seeds, gains with intervals, the best encoder;
- `curve`: probes of snapshots, kNN on the validation split, the curve plots.
"""
