"""Centered kernel alignment (Kornblith et al., ICML 2019) between representations of the same
examples: linear and RBF CKA, unbiased minibatch CKA (Nguyen et al., ICLR 2021) for example sets
too large for one Gram matrix, and layer-by-layer CKA matrices between two models.

Linear CKA uses the feature-space form ||Ycᵀ Xc||² / (||Xcᵀ Xc|| ||Ycᵀ Yc||) when there are more
examples than features, so 10k × 2048 features need 2048² matrices, never 10k².
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import torch


def _centered(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    if x.ndim != 2:
        raise ValueError(
            f"Expected features of shape (examples, features) but got {tuple(x.shape)}."
        )
    return x - x.mean(0, keepdim=True)


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if len(x) != len(y):
        raise ValueError(f"CKA compares the same examples: got {len(x)} and {len(y)} rows.")
    if len(x) < 2:
        raise ValueError("CKA needs at least 2 examples.")


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of `x` `(n, d1)` and `y` `(n, d2)`: 1 for identical representations, invariant to
    orthogonal transforms and isotropic scaling of either."""
    x, y = _centered(x), _centered(y)
    _check_pair(x, y)
    if len(x) > max(x.shape[1], y.shape[1]):  # feature space: d x d matrices
        cross = (y.T @ x).double().square().sum()
        self_x = (x.T @ x).double().square().sum()
        self_y = (y.T @ y).double().square().sum()
    else:  # example space: n x n Gram matrices
        gram_x, gram_y = x @ x.T, y @ y.T
        cross = (gram_x.double() * gram_y.double()).sum()
        self_x, self_y = gram_x.double().square().sum(), gram_y.double().square().sum()
    return float(cross / (self_x.sqrt() * self_y.sqrt()))


def _rbf_gram(x: torch.Tensor, sigma: float | None, sigma_fraction: float) -> torch.Tensor:
    distances = torch.cdist(x.double(), x.double()).square()
    if sigma is None:
        off_diagonal = distances[~torch.eye(len(x), dtype=torch.bool)]
        sigma = sigma_fraction * float(off_diagonal.sqrt().median())
    return torch.exp(-distances / (2 * sigma**2))


def _center_gram(gram: torch.Tensor) -> torch.Tensor:
    return gram - gram.mean(0, keepdim=True) - gram.mean(1, keepdim=True) + gram.mean()


def rbf_cka(
    x: np.ndarray, y: np.ndarray, sigma_fraction: float = 0.5, sigma: float | None = None
) -> float:
    """RBF-kernel CKA. The bandwidth is `sigma_fraction` × the median pairwise distance of each
    representation, or the absolute `sigma` for both (the paper's authors used σ = 0.8)."""
    x, y = _centered(x), _centered(y)
    _check_pair(x, y)
    gram_x = _center_gram(_rbf_gram(x, sigma, sigma_fraction))
    gram_y = _center_gram(_rbf_gram(y, sigma, sigma_fraction))
    cross = (gram_x * gram_y).sum()
    return float(cross / (gram_x.square().sum().sqrt() * gram_y.square().sum().sqrt()))


def _unbiased_hsic(gram_x: torch.Tensor, gram_y: torch.Tensor) -> torch.Tensor:
    """HSIC_1 of Song et al. (2012), with zeroed diagonals; needs n > 3."""
    n = len(gram_x)
    gram_x = gram_x - torch.diag(torch.diag(gram_x))
    gram_y = gram_y - torch.diag(torch.diag(gram_y))
    ones = torch.ones(n, 1, dtype=gram_x.dtype)
    trace = (gram_x * gram_y).sum()
    middle = (ones.T @ gram_x @ ones) * (ones.T @ gram_y @ ones) / ((n - 1) * (n - 2))
    last = 2 / (n - 2) * (ones.T @ gram_x @ gram_y @ ones)
    return ((trace + middle - last) / (n * (n - 3))).squeeze()


def minibatch_cka(batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> float:
    """Linear CKA from HSIC_1 accumulated over minibatches `(x_batch, y_batch)` of the same
    examples: memory is bounded by the batch size, and the estimate is unbiased per batch."""
    sums = torch.zeros(3, dtype=torch.float64)
    for x, y in batches:
        x = torch.as_tensor(np.asarray(x, dtype=np.float64))
        y = torch.as_tensor(np.asarray(y, dtype=np.float64))
        _check_pair(x, y)
        if len(x) < 4:
            raise ValueError(f"Minibatch CKA needs batches of at least 4 examples, got {len(x)}.")
        gram_x, gram_y = x @ x.T, y @ y.T
        sums += torch.stack([_unbiased_hsic(gram_x, gram_y), _unbiased_hsic(gram_x, gram_x),
                             _unbiased_hsic(gram_y, gram_y)])  # fmt: skip
    return float(sums[0] / (sums[1].sqrt() * sums[2].sqrt()))


def batched(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int = 0):
    """Shuffled minibatches of paired rows of `x` and `y`, for `minibatch_cka`."""
    order = np.random.default_rng(seed).permutation(len(x))
    for start in range(0, len(order) - batch_size + 1, batch_size):
        rows = order[start : start + batch_size]
        yield x[rows], y[rows]


def cka_matrix(
    features_a: Mapping[str, np.ndarray],
    features_b: Mapping[str, np.ndarray],
    kind: str = "linear",
    **kwargs,
) -> np.ndarray:
    """CKA between every layer of model A (rows) and every layer of model B (columns)."""
    measures = {"linear": linear_cka, "rbf": rbf_cka}
    if kind not in measures:
        raise ValueError(f"Unknown CKA kind {kind!r}; expected one of {', '.join(measures)}.")
    measure = measures[kind]
    return np.array(
        [[measure(a, b, **kwargs) for b in features_b.values()] for a in features_a.values()]
    )
