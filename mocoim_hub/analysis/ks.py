"""Kolmogorov–Smirnov distance between the output-probability distributions of two models on the
same images, per class and averaged: how much, e.g., a model fine-tuned with 1 % of the labels
predicts differently from one fine-tuned with all of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import ks_2samp


@dataclass(frozen=True)
class KsDistance:
    """Kolmogorov-Smirnov distances between two sets of class probabilities: per class, their
    p-values, and the mean over classes."""

    per_class: dict[str, float]  # KS statistic of each class's probability distribution
    p_values: dict[str, float]
    mean: float


def ks_distance(
    scores_a: np.ndarray, scores_b: np.ndarray, class_names: Sequence[str] | None = None
) -> KsDistance:
    """Two-sample KS statistic between the probabilities two models give each class.

    `scores_*` are `(n,)` (binary: the positive class) or `(n, classes)` probabilities.
    """
    a = np.asarray(scores_a, dtype=np.float64).reshape(len(scores_a), -1)
    b = np.asarray(scores_b, dtype=np.float64).reshape(len(scores_b), -1)
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"Both models must score the same classes: got {a.shape[1]} and {b.shape[1]}."
        )
    names = list(class_names) if class_names is not None else [str(i) for i in range(a.shape[1])]
    if len(names) != a.shape[1]:
        raise ValueError(f"Expected {a.shape[1]} class names but got {len(names)}.")
    results = [
        ks_2samp(a[:, j][~np.isnan(a[:, j])], b[:, j][~np.isnan(b[:, j])])
        for j in range(a.shape[1])
    ]
    per_class = {name: float(r.statistic) for name, r in zip(names, results, strict=True)}
    p_values = {name: float(r.pvalue) for name, r in zip(names, results, strict=True)}
    return KsDistance(per_class, p_values, float(np.mean(list(per_class.values()))))
