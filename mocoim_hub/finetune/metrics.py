"""Task metrics and percentile-bootstrap confidence intervals over the test set.

Tasks: `multi-label` (mean and per-label AUROC, e.g. the 14 NIH findings), `binary` (AUROC,
macro-F1, accuracy, e.g. IDC), `multi-class` (accuracy, macro-F1, and quadratic weighted kappa
when the classes are ordered, e.g. DR grades). Metrics are computed with numpy from ranks and
confusion matrices, so a 1000-replicate bootstrap takes a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.stats import rankdata

Task = Literal["multi-label", "binary", "multi-class"]
PRIMARY_METRIC: dict[str, str] = {
    "multi-label": "mean_auroc",
    "binary": "auroc",
    "multi-class": "accuracy",
}
"""The metric each task is judged by: mean AUROC over findings, AUROC, or accuracy."""


def task_of(labels: np.ndarray, num_classes: int) -> Task:
    """The task of labels: a multi-hot matrix is multi-label; 2 classes binary; more multi-class."""
    if np.asarray(labels).ndim == 2:
        return "multi-label"
    return "binary" if num_classes == 2 else "multi-class"


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with mid-ranks for ties); NaN if one class is
    absent."""
    labels = np.asarray(labels).astype(bool)
    positives = labels.sum()
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def confusion(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """`(num_classes, num_classes)` counts, rows true class, columns predicted class."""
    flat = np.asarray(labels) * num_classes + np.asarray(predictions)
    return np.bincount(flat, minlength=num_classes**2).reshape(num_classes, num_classes)


def macro_f1(matrix: np.ndarray) -> float:
    """Mean F1 over classes (a class never true nor predicted counts as F1 = 0, like sklearn)."""
    true_positives = np.diag(matrix).astype(float)
    denominator = matrix.sum(0) + matrix.sum(1)
    f1 = np.divide(2 * true_positives, denominator, out=np.zeros_like(true_positives),
                   where=denominator > 0)  # fmt: skip
    return float(f1.mean())


def quadratic_kappa(matrix: np.ndarray) -> float:
    """Cohen's kappa with quadratic weights, for ordered classes."""
    k = len(matrix)
    weights = (np.subtract.outer(np.arange(k), np.arange(k)) ** 2) / max((k - 1) ** 2, 1)
    observed = matrix / matrix.sum()
    expected = np.outer(observed.sum(1), observed.sum(0))
    disagreement = (weights * expected).sum()
    return float(1 - (weights * observed).sum() / disagreement) if disagreement > 0 else 0.0


def evaluate(
    task: Task, labels: np.ndarray, scores: np.ndarray, ordinal: bool = False
) -> dict[str, float]:
    """Metrics of `scores` (probabilities: `(n,)` of the positive class for binary tasks,
    `(n, num_classes)` for multi-class, `(n, num_labels)` for multi-label) against `labels`.
    Rows with NaN scores (images that failed to decode) are left out."""
    labels, scores = np.asarray(labels), np.asarray(scores)
    if len(labels) != len(scores):
        raise ValueError(
            f"Expected one score row per label: {len(labels)} labels, {len(scores)} scores."
        )
    decoded = ~np.isnan(scores.reshape(len(scores), -1)).any(1)
    labels, scores = labels[decoded], scores[decoded]
    if task == "multi-label":
        per_label = [auroc(labels[:, j], scores[:, j]) for j in range(labels.shape[1])]
        defined = [a for a in per_label if not np.isnan(a)]
        mean = float(np.mean(defined)) if defined else float("nan")
        return {"mean_auroc": mean, **{f"auroc_{j}": a for j, a in enumerate(per_label)}}
    if task == "binary":
        matrix = confusion(labels, (scores >= 0.5).astype(int), 2)
        return {"auroc": auroc(labels, scores), "macro_f1": macro_f1(matrix),
                "accuracy": float(np.trace(matrix) / len(labels))}  # fmt: skip
    if task == "multi-class":
        matrix = confusion(labels, scores.argmax(1), scores.shape[1])
        metrics = {"accuracy": float(np.trace(matrix) / len(labels)), "macro_f1": macro_f1(matrix)}
        if ordinal:
            metrics["quadratic_kappa"] = quadratic_kappa(matrix)
        return metrics
    raise ValueError(f"Unknown task {task!r}; expected one of {', '.join(PRIMARY_METRIC)}.")


@dataclass(frozen=True)
class Score:
    """A metric on the test set with its 95 % percentile-bootstrap interval."""

    value: float
    low: float
    high: float


def bootstrap(
    task: Task,
    labels: np.ndarray,
    scores: np.ndarray | Sequence[np.ndarray],
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    ordinal: bool = False,
) -> dict[str, Score]:
    """Each metric with a percentile-bootstrap CI from resampling the test images.

    `scores` may be a list of score arrays for the same test images (e.g. one per fine-tuning
    seed): then the value is the mean over them, and each replicate resamples the test images once
    and averages the metric over them, so the interval reflects test-set sampling of that mean.
    """
    runs = (
        [np.asarray(s) for s in scores]
        if isinstance(scores, (list, tuple))
        else [np.asarray(scores)]
    )
    labels = np.asarray(labels)

    def averaged(rows: np.ndarray | slice) -> dict[str, float]:
        results = [evaluate(task, labels[rows], run[rows], ordinal) for run in runs]
        return {name: float(np.mean([r[name] for r in results])) for name in results[0]}

    point = averaged(slice(None))
    rng = np.random.default_rng(seed)
    replicates = [averaged(rng.integers(0, len(labels), len(labels))) for _ in range(n_resamples)]
    tail = (1 - level) / 2 * 100
    intervals = {}
    for name, value in point.items():
        samples = np.array([r[name] for r in replicates])
        samples = samples[~np.isnan(samples)]  # a replicate may miss a class: AUROC undefined
        low, high = np.percentile(samples, [tail, 100 - tail]) if len(samples) else (np.nan, np.nan)
        intervals[name] = Score(value, float(low), float(high))
    return intervals
