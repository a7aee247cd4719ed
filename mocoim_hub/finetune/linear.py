"""Linear probing on frozen features: standardised features, an L2-regularised linear classifier
fitted with full-batch L-BFGS in torch (softmax for single-label tasks, one sigmoid per label for
multi-label ones), the regularisation strength chosen on the validation split.

Each strength starts from the previous solution (strongest first), so a whole path costs little
more than one fit; `benchmarks/bench_finetune.py` compares it with scikit-learn's solver.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .metrics import PRIMARY_METRIC, Task, evaluate

DEFAULT_L2 = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4)


@dataclass
class LinearProbe:
    """A fitted probe: `scores(features)` gives probabilities as `metrics.evaluate` expects."""

    task: Task
    mean: np.ndarray
    std: np.ndarray
    weight: torch.Tensor  # (outputs, features)
    bias: torch.Tensor  # (outputs,)
    l2: float
    validation: dict[str, float]  # metrics of the chosen strength on the validation split

    def scores(self, features: np.ndarray) -> np.ndarray:
        logits = _standardised(features, self.mean, self.std) @ self.weight.T + self.bias
        if self.task == "multi-class":
            return logits.softmax(1).numpy()
        probabilities = logits.sigmoid().numpy()
        return probabilities[:, 0] if self.task == "binary" else probabilities


def _standardised(features: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(((features - mean) / std).astype(np.float32))


def _fit(x: torch.Tensor, y: torch.Tensor, task: Task, l2: float, start: tuple | None) -> tuple:
    outputs = 1 if task == "binary" else (y.shape[1] if task == "multi-label" else int(y.max()) + 1)
    weight = torch.zeros(outputs, x.shape[1]) if start is None else start[0].clone()
    bias = torch.zeros(outputs) if start is None else start[1].clone()
    weight.requires_grad_(True)
    bias.requires_grad_(True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1, max_iter=200, tolerance_grad=1e-6,
                                  history_size=20, line_search_fn="strong_wolfe")  # fmt: skip
    targets = y.float().reshape(len(y), -1) if task != "multi-class" else y

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = x @ weight.T + bias
        if task == "multi-class":
            loss = F.cross_entropy(logits, targets)
        else:
            loss = F.binary_cross_entropy_with_logits(logits, targets)
        loss = loss + l2 / 2 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach(), bias.detach()


def linear_probe(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    validation_features: np.ndarray,
    validation_labels: np.ndarray,
    task: Task,
    l2: Sequence[float] = DEFAULT_L2,
    ordinal: bool = False,
) -> LinearProbe:
    """Fit a probe for each L2 strength in `l2` and keep the best on the validation split (by the
    task's primary metric: mean AUROC, AUROC or accuracy)."""
    keep = ~np.isnan(train_features).any(1)  # images that failed to decode have NaN features
    train_features, train_labels = train_features[keep], np.asarray(train_labels)[keep]
    if len(train_features) == 0:
        raise ValueError("No training features: every training image failed to decode.")
    mean = train_features.mean(0)
    std = train_features.std(0) + 1e-6
    x = _standardised(train_features, mean, std)
    y = torch.as_tensor(train_labels)
    primary = PRIMARY_METRIC[task]
    best, start = None, None
    for strength in sorted(l2, reverse=True):
        start = _fit(x, y, task, strength, start)
        probe = LinearProbe(task, mean, std, *start, strength, {})
        probe.validation = evaluate(
            task, validation_labels, probe.scores(validation_features), ordinal
        )
        if best is None or probe.validation[primary] > best.validation[primary]:
            best = probe
    return best
