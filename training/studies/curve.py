"""The learning-curve study (`training/curve.py`): does our pretraining beat a random-init encoder,
and after how much training?

Two parts, each a list of pretraining runs that resume where they stopped:
- ablations: short variants of the base recipe, scored on the **validation** split only (kNN
  with the whole train split as the bank, and 1 % / 10 % linear probes), to choose the recipe;
- the curve: MoCo, MoCo+MSE and MoCo+BT trained far longer, with an encoder snapshot every few
  epochs; each snapshot gets 1 % / 10 % linear probes on the test split over several labelled
  subsets, drawn against random init (same architecture, same subsets).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mocoim_hub.data.adapters import ImageDataset
from mocoim_hub.features import extract_features
from mocoim_hub.finetune import Encoder, linear_probe
from mocoim_hub.finetune.metrics import evaluate, task_of
from mocoim_hub.finetune.sweep import labelled_subsets
from mocoim_hub.pretraining.monitor import KnnMonitor

# Variants of the base recipe, each changing one lever (the base is the recipe as it ships).
ABLATIONS: dict[str, dict[str, object]] = {
    "base": {},
    "augmentation mocov2": {"augmentation": "mocov2"},
    "lr 0.12": {"lr": 0.12},
    "lr 0.03": {"lr": 0.03},
    "temperature 0.1": {"temperature": 0.1},
    "temperature 0.5": {"temperature": 0.5},
    "momentum 0.99": {"momentum": 0.99},
    "queue 1024": {"queue_size": 1024},
    "batch 128": {"batch_size": 128},
    "intermediate weight x4": {"intermediate_weights": [0.02, 0.02, 0.02, 0.02]},
}


@dataclass
class ProbeScore:
    """One encoder's accuracy with one labelled fraction, mean and range over subset seeds."""

    encoder: str
    fraction: float
    split: str  # where it was measured: "validation" or "test"
    mean: float
    low: float
    high: float
    seeds: int


def probe_scores(
    encoder: Encoder,
    splits: Mapping[str, ImageDataset],
    fractions: Sequence[float],
    seeds: Sequence[int],
    on: Sequence[str] = ("validation",),
) -> list[ProbeScore]:
    """Linear probes on pooled layer4 features, one per (fraction, subset seed), with the L2
    strength chosen on the validation split; scored on each split of `on` ("validation" to choose
    a recipe or a snapshot, "test" for the reported figure)."""
    train, validation = splits["train"], splits["validation"]
    features = {
        name: extract_features(encoder.model, splits[name], processor=encoder.processor,
                               progress=False)["layer4"]
        for name in {"train", "validation", *on}
    }  # fmt: skip
    task = task_of(train.labels, len(train.label_names))
    values: dict[tuple[float, str], list[float]] = {}
    for (fraction, _), rows in labelled_subsets(train, fractions, seeds).items():
        probe = linear_probe(features["train"][rows], train.labels[rows],
                             features["validation"], validation.labels, task)  # fmt: skip
        for split in on:
            predicted = probe.scores(features[split])
            accuracy = evaluate(task, splits[split].labels, predicted)["accuracy"]
            values.setdefault((fraction, split), []).append(accuracy)
    return [
        ProbeScore(
            encoder.name,
            fraction,
            split,
            float(np.mean(v)),
            float(np.min(v)),
            float(np.max(v)),
            len(v),
        )  # fmt: skip
        for (fraction, split), v in values.items()
    ]


def knn_validation_accuracy(encoder: Encoder, splits: Mapping[str, ImageDataset]) -> float:
    """Weighted kNN (k = 20) of every validation image among all train images."""
    train, validation = splits["train"], splits["validation"]
    monitor = KnnMonitor.from_splits(
        train, validation, encoder.processor, bank_size=len(train), query_size=len(validation)
    )
    return monitor.accuracy(encoder.model)


def plot_curve(
    points: Mapping[str, Sequence[dict]],
    random_init: Sequence[ProbeScore],
    fractions: Sequence[float],
    path: Path,
    title: str = "",
) -> None:
    """Test accuracy of linear probes against pretraining epochs (left) and training hours
    (right), one row per label fraction: one line per method, bars spanning the subset seeds,
    random init as a band over its initialisation seeds.

    `points[method]` are snapshots: `{"epoch", "training_s", "probes": [ProbeScore as dict]}`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(
        len(fractions), 2, figsize=(11, 3.6 * len(fractions)), squeeze=False, sharey="row"
    )
    for row, fraction in zip(axes, fractions, strict=True):
        reference = [r.mean for r in random_init if r.fraction == fraction and r.split == "test"]
        for axis, x_name, x_label in ((row[0], "epoch", "pretraining epochs"),
                                      (row[1], "training_s", "pretraining hours (this machine)")):  # fmt: skip
            axis.axhspan(min(reference), max(reference), color="grey", alpha=0.25)
            axis.axhline(np.mean(reference), color="grey", label="random init")
            for method, snapshots in points.items():
                xs, means, lows, highs = [], [], [], []
                for snapshot in snapshots:
                    (score,) = [p for p in snapshot["probes"]
                                if p["fraction"] == fraction and p["split"] == "test"]  # fmt: skip
                    x = snapshot[x_name] / (3600 if x_name == "training_s" else 1)
                    xs.append(x)
                    means.append(score["mean"])
                    lows.append(score["mean"] - score["low"])
                    highs.append(score["high"] - score["mean"])
                axis.errorbar(xs, means, yerr=[lows, highs], marker="o", capsize=3, label=method)
            axis.set(xlabel=x_label, ylabel=f"test accuracy, {fraction * 100:g} % labels")
            axis.grid(alpha=0.3)
        row[0].legend(fontsize=8)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_monitor(runs: Mapping[str, Sequence[dict]], steps_per_epoch: int, path: Path) -> None:
    """The kNN monitor's accuracy and InfoNCE against epochs, one line per run (`runs[name]`
    are its `metrics.jsonl` records)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (knn, infonce) = plt.subplots(1, 2, figsize=(11, 4))
    for name, records in runs.items():
        for axis, key in ((knn, "knn_top1"), (infonce, "infonce")):
            points = [(r["step"] / steps_per_epoch, r[key]) for r in records if key in r]
            if points:
                axis.plot(*zip(*points, strict=True), label=name)
    knn.set(xlabel="pretraining epochs", ylabel="kNN top-1, validation (monitor)")
    infonce.set(xlabel="pretraining epochs", ylabel="InfoNCE (chance: ln(K + 1))")
    for axis in (knn, infonce):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
