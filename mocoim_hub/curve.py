"""The learning-curve study (`mocoim-curve`): does our pretraining beat a random-init encoder, and
after how much training?

Two parts, each a list of `mocoim-pretrain` runs that resume where they stopped:
- ablations: short variants of the base recipe, scored on the **validation** split only (kNN
  with the whole train split as the bank, and 1 % / 10 % linear probes), to choose the recipe;
- the curve: MoCo, MoCo+MSE and MoCo+BT trained far longer, with an encoder snapshot every few
  epochs; each snapshot gets 1 % / 10 % linear probes on the test split over several labelled
  subsets, drawn against random init (same architecture, same subsets).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .data.adapters import ImageDataset
from .features import extract_features
from .finetune import Encoder, linear_probe
from .finetune.metrics import evaluate, task_of
from .finetune.sweep import labelled_subsets
from .pretraining.monitor import KnnMonitor

# Variants of the base recipe, each changing one lever (the base is the recipe as it ships).
ABLATIONS: dict[str, dict[str, object]] = {
    "base": {},
    "augmentation mocov2": {"augmentation": "mocov2"},
    "lr 0.12": {"lr": 0.12},
    "lr 0.03": {"lr": 0.03},
    "temperature 0.1": {"temperature": 0.1},
    "temperature 0.5": {"temperature": 0.5},
    "momentum 0.9": {"momentum": 0.9},
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
    split: str,
    cache_dir=None,
) -> list[ProbeScore]:
    """Linear probes on pooled layer4 features, one per (fraction, subset seed), with the L2
    strength chosen on the validation split; scored on `split` ("validation" for choosing a
    recipe, "test" once it is chosen)."""
    train, validation = splits["train"], splits["validation"]
    features = {
        name: extract_features(encoder.model, splits[name], processor=encoder.processor,
                               cache_dir=cache_dir, progress=False)["layer4"]
        for name in {"train", "validation", split}
    }  # fmt: skip
    task = task_of(train.labels, len(train.label_names))
    scores = []
    for fraction in fractions:
        values = []
        for seed in seeds:
            rows = labelled_subsets(train, [fraction], [seed])[fraction, seed]
            probe = linear_probe(features["train"][rows], train.labels[rows],
                                 features["validation"], validation.labels, task)  # fmt: skip
            if split == "validation":
                values.append(probe.validation["accuracy"])
            else:
                target = splits[split]
                predicted = probe.scores(features[split])
                values.append(evaluate(task, target.labels, predicted)["accuracy"])
        scores.append(ProbeScore(encoder.name, fraction, split, float(np.mean(values)),
                            float(np.min(values)), float(np.max(values)), len(values)))  # fmt: skip
    return scores


def knn_validation_accuracy(encoder: Encoder, splits: Mapping[str, ImageDataset]) -> float:
    """Weighted kNN (k = 20) of every validation image among all train images."""
    train, validation = splits["train"], splits["validation"]
    monitor = KnnMonitor.from_splits(
        train, validation, encoder.processor, bank_size=len(train), query_size=len(validation)
    )
    return monitor.accuracy(encoder.model)
