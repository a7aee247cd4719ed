"""What the feature cache and the linear-probe solver buy in a few-label sweep.

1. A 3 fractions x 3 seeds linear-probe sweep on the embedded default dataset with cached features
   (extracted once) against re-extracting train/validation/test features for every probe.
2. The probe solver: our torch L-BFGS over the whole regularisation path (warm starts) against
   scikit-learn's LogisticRegression (lbfgs) fitting the same path, on the same features.

Both comparisons run in the same process; medians over --repeats runs.

    python benchmarks/bench_finetune.py [--repeats 3] [--backbone resnet18]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from sklearn.linear_model import LogisticRegression

from mocoim_hub import MocoImConfig, MocoImModel
from mocoim_hub.data.adapters import default_dataset
from mocoim_hub.finetune import Encoder, evaluate, extract_features, labelled_subsets, linear_probe
from mocoim_hub.finetune.linear import DEFAULT_L2

FRACTIONS, SEEDS = (0.01, 0.1, 1.0), (0, 1, 2)


def sweep(encoder: Encoder, splits, cache_dir: str | None) -> float:
    """Seconds for the 3 x 3 probe sweep; without a cache, features are extracted per probe."""
    start = time.perf_counter()
    for (_, _), rows in labelled_subsets(splits["train"], FRACTIONS, SEEDS).items():
        features = {
            name: extract_features(encoder.model, data, processor=encoder.processor, cache_dir=cache_dir,
                                   progress=False)["layer4"]
            for name, data in splits.items()
        }  # fmt: skip
        probe = linear_probe(features["train"][rows], splits["train"].labels[rows],
                             features["validation"], splits["validation"].labels, "multi-class")  # fmt: skip
        probe.scores(features["test"])
    return time.perf_counter() - start


def sklearn_path(x, y, xv, yv) -> float:
    """Best validation accuracy of scikit-learn over the same L2 path (C = 1 / (n * l2))."""
    mean, std = x.mean(0), x.std(0) + 1e-6
    best = 0.0
    for l2 in DEFAULT_L2:
        model = LogisticRegression(C=1 / (len(x) * l2), max_iter=200).fit((x - mean) / std, y)
        best = max(best, model.score((xv - mean) / std, yv))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backbone", default="resnet18")
    args = parser.parse_args()
    torch.manual_seed(0)
    encoder = Encoder.random_init(MocoImModel(MocoImConfig(backbone=args.backbone, image_size=32)))
    splits = default_dataset()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.backbone} at 32 px, "
          f"{len(splits['train'])}/{len(splits['validation'])}/{len(splits['test'])} images")  # fmt: skip

    cached, uncached = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache:
            cached.append(sweep(encoder, splits, cache))  # includes the one extraction
        uncached.append(sweep(encoder, splits, None))
    print(f"\n3x3 linear-probe sweep: cached {statistics.median(cached):.1f} s, re-extracting "
          f"{statistics.median(uncached):.1f} s -> {statistics.median(uncached) / statistics.median(cached):.2f}x "
          "faster with the cache (medians)")  # fmt: skip

    features = {name: extract_features(encoder.model, data, processor=encoder.processor, progress=False)["layer4"]
                for name, data in splits.items()}  # fmt: skip
    for fraction in (0.1, 1.0):
        rows = labelled_subsets(splits["train"], [fraction], [0])[fraction, 0]
        x, y = features["train"][rows], splits["train"].labels[rows]
        xv, yv = features["validation"], splits["validation"].labels
        ours, theirs, accuracy = [], [], {}
        for _ in range(args.repeats):
            start = time.perf_counter()
            probe = linear_probe(x, y, xv, yv, "multi-class")
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            accuracy["sklearn"] = sklearn_path(x, y, xv, yv)
            theirs.append(time.perf_counter() - start)
        accuracy["torch"] = evaluate("multi-class", yv, probe.scores(xv))["accuracy"]
        print(f"probe path ({len(DEFAULT_L2)} strengths, {len(x)} images): torch L-BFGS "
              f"{statistics.median(ours):.2f} s, scikit-learn {statistics.median(theirs):.2f} s -> "
              f"{statistics.median(theirs) / statistics.median(ours):.2f}x; best validation accuracy "
              f"{accuracy['torch']:.3f} vs {accuracy['sklearn']:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
