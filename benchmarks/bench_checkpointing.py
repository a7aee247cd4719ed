"""Memory and time of a training step with per-stage gradient checkpointing
(`model.activation_checkpointing_enable()`) against the same step without it, measured in the
same run. Each measurement runs in a fresh process (peak memory is a per-process figure): on CPU
the growth of the peak resident set during the step (after a warm-up step on one image), on CUDA `torch.cuda.max_memory_allocated`
minus what was allocated before the step. Medians over --repeats; ratio = checkpointed / plain.

    python benchmarks/bench_checkpointing.py                                   # resnet50, 224 px, batch 8, CPU
    python benchmarks/bench_checkpointing.py --device cuda --batch-size 64
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--checkpointing", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def one_step(args: argparse.Namespace) -> dict[str, float]:
    """One measured training step (after a warm-up step) in this process."""
    import torch

    from mocoim_hub import MocoImConfig, MocoImForImageClassification

    torch.manual_seed(0)
    config = MocoImConfig(backbone=args.backbone, image_size=args.image_size, num_labels=10)
    model = MocoImForImageClassification(config).to(args.device).train()
    if args.checkpointing:
        model.activation_checkpointing_enable()
    pixels = torch.randn(args.batch_size, 1, args.image_size, args.image_size, device=args.device)
    labels = torch.randint(0, 10, (args.batch_size,), device=args.device)
    cuda = args.device.startswith("cuda")

    def step(batch: int) -> None:
        model.zero_grad(set_to_none=True)
        model(pixels[:batch], labels=labels[:batch]).loss.backward()
        if cuda:
            torch.cuda.synchronize()

    # warm-up on one image: lazy initialisation and gradient buffers, but (on CPU, where the peak
    # resident set only grows) a peak far below the measured step's
    step(1)
    model.zero_grad(set_to_none=True)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    step(args.batch_size)
    seconds = time.perf_counter() - start
    if cuda:
        peak = torch.cuda.max_memory_allocated() - before
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    return {"peak_mib": peak / 2**20, "seconds": seconds}


def measure(args: argparse.Namespace, checkpointing: bool) -> dict[str, float]:
    command = [sys.executable, __file__, "--one", "--backbone", args.backbone, "--image-size",
               str(args.image_size), "--batch-size", str(args.batch_size), "--device", args.device]  # fmt: skip
    result = subprocess.run(command + ["--checkpointing"] * checkpointing, capture_output=True,
                            text=True, check=True)  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    args = parse_args()
    if args.one:
        print(json.dumps(one_step(args)))
        return
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for _ in range(args.repeats):  # alternated, so both see the same machine load
        for checkpointing in (False, True):
            runs[checkpointing].append(measure(args, checkpointing))
    median = {
        ckpt: {key: statistics.median(r[key] for r in rs) for key in ("peak_mib", "seconds")}
        for ckpt, rs in runs.items()
    }
    plain, checkpointed = median[False], median[True]
    print(f"{args.backbone}, {args.image_size} px, batch {args.batch_size}, {args.device}, "
          f"median of {args.repeats}")  # fmt: skip
    print("| step | peak memory of the step (MiB) | s/step |\n|---|---|---|")
    print(f"| plain | {plain['peak_mib']:.0f} | {plain['seconds']:.2f} |")
    print(f"| checkpointed | {checkpointed['peak_mib']:.0f} | {checkpointed['seconds']:.2f} |")
    print(f"| ratio | {checkpointed['peak_mib'] / plain['peak_mib']:.3f} | "
          f"{checkpointed['seconds'] / plain['seconds']:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
