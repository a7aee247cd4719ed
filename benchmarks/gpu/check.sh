#!/usr/bin/env bash
# The GPU check (about 10 min on one H200): the CUDA-marked tests, then bench_pretrain,
# bench_inference and bench_recipes on CUDA with bf16 + channels_last (and torch.compile against
# eager), peak memory included, and bench_extract (archive extraction on the GPU, bf16);
# everything goes to benchmarks/results/gpu.md.
#
#   bash benchmarks/gpu/check.sh
#
# A GPU machine without network whose Python lacks this package's pins (transformers 5,
# huggingface_hub 2, ...) installs wheels prepared beforehand on a machine with network:
#   pip download --no-deps -d benchmarks/gpu/wheels "transformers>=5" "huggingface_hub>=2" httpx2 \
#       && pip wheel --no-deps -w benchmarks/gpu/wheels .
set -uo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
WHEELS=benchmarks/gpu/wheels
REPORT=benchmarks/results/gpu.md
export PYTHONUNBUFFERED=1
if compgen -G "$WHEELS/*.whl" >/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps "$WHEELS"/*.whl
fi
mkdir -p "$(dirname "$REPORT")"
"$PYTHON" - >"$REPORT" <<'PY'
import datetime, torch
print(f"# GPU check, {datetime.date.today()}\n")
print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
      "produced by `bash benchmarks/gpu/check.sh`.")
PY

# title, seconds allowed, command...: its output's last 40 lines go into the report
step() {
    local title=$1 limit=$2
    shift 2
    echo "== $title"
    { printf '\n## %s\n\n```\n$ %s\n' "$title" "$*"
      timeout "$limit" "$@" 2>&1 | tail -n 40
      echo "(exit status ${PIPESTATUS[0]})"
      printf '```\n'; } >>"$REPORT"
}
step "CUDA tests" 180 "$PYTHON" -m pytest -q -p no:cacheprovider -m cuda tests/test_cuda.py
step "Pretraining step, ResNet-50 224 px batch 64, bf16 + channels_last" 180 \
    "$PYTHON" benchmarks/bench_pretrain.py --device cuda --bf16 --channels-last \
    --backbone resnet50 --image-size 224 --batch-size 64 --repeats 20 --compile
step "Inference, ResNet-50 224 px batch 64, bf16 + channels_last" 90 \
    "$PYTHON" benchmarks/bench_inference.py --device cuda --bf16 --channels-last \
    --backbone resnet50 --batch-size 64 --repeats 20 --compile
step "Paper recipes (their precision), intermediate-loss overhead" 90 \
    "$PYTHON" benchmarks/bench_recipes.py --device cuda --recipes paper-nih --losses mse barlow \
    --repeats 10
step "Archive extraction, ResNet-18/50 224 px, bf16: decode vs forward vs end to end" 150 \
    "$PYTHON" benchmarks/bench_extract.py --device cuda --precision bf16 --images 1024 \
    --batch-size 128 --num-workers 8 --repeats 2
cat "$REPORT"
