#!/usr/bin/env bash
# The learning-curve study on one GPU at 10x the CPU study's epochs (400 instead of 40, a
# snapshot every 50), all three methods, stopped after at most 9 minutes; results (curve.png,
# monitor.png, curve.md, curve.json) go to results/curve-gpu/. Rerun to continue an unfinished
# study: runs resume from their checkpoints in runs/curve-gpu/.
#
#   bash benchmarks/gpu/curve.sh
#
# Packages: see benchmarks/gpu/check.sh (wheels in benchmarks/gpu/wheels are installed first).
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
WHEELS=benchmarks/gpu/wheels
export PYTHONUNBUFFERED=1
if compgen -G "$WHEELS/*.whl" >/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps "$WHEELS"/*.whl
fi
# training runs on the GPU (the default where there is one) in bf16 with channels_last; the views
# are drawn on it (batched augmentation); the kNN monitor every 10 epochs (390 steps of 256)
"$PYTHON" training/curve.py curve --epochs 400 --every 50 --max-minutes 9 \
    --output-dir results/curve-gpu --work-dir runs/curve-gpu \
    --pretrain-args --precision bf16 --num-workers 4 --knn-every 390
cat results/curve-gpu/curve.md
