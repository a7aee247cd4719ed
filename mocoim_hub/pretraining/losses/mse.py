"""The MSE form of the intermediate-layer loss (Kaku et al., NeurIPS 2021)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

FORMS = ("pooled", "map")


class IntermediateMSELoss(nn.Module):
    """Mean squared error between a query-encoder feature map and the key encoder's.

    Args:
        form: `"pooled"` compares global-average-pooled vectors (the authors' histopathology code);
            `"map"` average-pools both maps to `grid` x `grid` first (their chest X-ray and
            retinopathy code: 16 for layer1-2, 4 for layer3-4).
        grid: side of the pooled map for `form="map"`.
        normalize: L2-normalise the compared features first (guards against lowering the loss by
            shrinking activations); the authors compared raw features.

    Shapes: `query`, `key` (N, C, H, W); returns a scalar. Gradients should reach `query` only:
    pass the key encoder's features computed without gradient.
    """

    def __init__(self, form: str = "pooled", grid: int = 4, normalize: bool = False):
        super().__init__()
        if form not in FORMS:
            raise ValueError(f"Unknown MSE form {form!r}; expected one of {', '.join(FORMS)}.")
        if grid < 1:
            raise ValueError(f"grid must be at least 1, got {grid}.")
        self.form, self.grid, self.normalize = form, grid, normalize

    def pool(self, features: torch.Tensor) -> torch.Tensor:
        """What the loss compares of a map (N, C, H, W): (N, C * side²) in float32. Pooling comes
        before the upcast, so a bf16 map is never copied whole to float32."""
        side = 1 if self.form == "pooled" else self.grid
        return F.adaptive_avg_pool2d(features, side).flatten(1).float()

    def compare(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        """The loss between two `pool`ed batches."""
        if self.normalize:
            query, key = F.normalize(query, dim=1), F.normalize(key, dim=1)
        return F.mse_loss(query, key)

    def forward(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        return self.compare(self.pool(query), self.pool(key))
