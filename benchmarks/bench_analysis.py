"""Linear CKA on 10k x 2048 float32 features (ResNet-50 layer4 size): our feature-space
formulation against the naive one (centred 10k x 10k Gram matrices, HSIC), in the same run.
Reports median seconds and peak extra memory of each, and their ratio.

    python benchmarks/bench_analysis.py [--examples 10000] [--features 2048] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import numpy as np
import psutil
import torch

from mocoim_hub.analysis import linear_cka


def naive_linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """HSIC of centred Gram matrices, as the CKA paper writes it: n x n memory."""
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    n = len(x)
    centre = torch.eye(n) - 1.0 / n
    k = centre @ (x @ x.T) @ centre
    l = centre @ (y @ y.T) @ centre  # noqa: E741 - the paper's name
    return float((k * l).sum() / ((k * k).sum().sqrt() * (l * l).sum().sqrt()))


def measure(function, x, y) -> tuple[float, float, float]:
    """(seconds, peak RSS above the start in MB, result), sampling RSS every 5 ms."""
    process = psutil.Process()
    start_rss, peak, done = process.memory_info().rss, [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss - start_rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    start = time.perf_counter()
    result = function(x, y)
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    return elapsed, peak[0] / 2**20, result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--features", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.examples, args.features), dtype=np.float32)
    y = (x @ rng.standard_normal((args.features, args.features), dtype=np.float32) / 50
         + rng.standard_normal((args.examples, args.features), dtype=np.float32))  # fmt: skip
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.examples} x "
          f"{args.features} float32, medians of {args.repeats}")  # fmt: skip
    timings = {"ours": [], "naive": []}
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits both
        for name, function in (("ours", linear_cka), ("naive", naive_linear_cka)):
            timings[name].append(measure(function, x, y))
    for name, runs in timings.items():
        print(f"{name:5s}: {statistics.median(r[0] for r in runs):7.2f} s, peak +"
              f"{statistics.median(r[1] for r in runs):7.0f} MB, CKA {runs[0][2]:.6f}")  # fmt: skip
    ours, naive = (statistics.median(r[0] for r in timings[k]) for k in ("ours", "naive"))
    print(f"speed-up: {naive / ours:.1f}x")


if __name__ == "__main__":
    main()
