"""The Barlow-Twins form of the intermediate-layer loss (Zbontar et al., ICML 2021; used per layer
by Kaku et al., NeurIPS 2021)."""

from __future__ import annotations

import torch
from torch import nn

WEIGHTINGS = ("paper", "standard")


def barlow_projector(in_dim: int, hidden_dim: int = 2048) -> nn.Sequential:
    """Linear-BN-ReLU-Linear-BN-ReLU-Linear, no biases, as in Barlow Twins."""
    return nn.Sequential(
        nn.Linear(in_dim, hidden_dim, bias=False),
        nn.BatchNorm1d(hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, hidden_dim, bias=False),
        nn.BatchNorm1d(hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, hidden_dim, bias=False),
    )


class BarlowTwinsLoss(nn.Module):
    """Cross-correlation loss between two batches of embeddings.

    c = bn(z1)^T bn(z2) / N with a BatchNorm without affine parameters; on = sum_i (c_ii - 1)^2,
    off = sum_{i != j} c_ij^2.

    Args:
        dim: embedding size.
        weighting: `"standard"` gives on + `lambd` * off (Barlow Twins); `"paper"` gives
            `scale` * (on + off) / 32, the MoCo-IM authors' code (off-diagonal not down-weighted).
        lambd: off-diagonal weight for `"standard"` (0.0051 in Barlow Twins).
        scale: factor for `"paper"` (5e-5 in the authors' code).

    Shapes: `z1`, `z2` (N, dim) with N >= 2; returns a scalar.
    """

    def __init__(
        self, dim: int, weighting: str = "standard", lambd: float = 0.0051, scale: float = 5e-5
    ):
        super().__init__()
        if weighting not in WEIGHTINGS:
            raise ValueError(
                f"Unknown Barlow-Twins weighting {weighting!r}; expected one of {', '.join(WEIGHTINGS)}."
            )
        if lambd < 0 or scale <= 0:
            raise ValueError(f"lambd must be >= 0 and scale > 0, got {lambd} and {scale}.")
        self.weighting, self.lambd, self.scale = weighting, lambd, scale
        self.bn = nn.BatchNorm1d(dim, affine=False)

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        if len(z1) < 2:
            raise ValueError("Barlow-Twins needs a batch of at least 2 to normalise over.")
        c = self.bn(z1.float()).T @ self.bn(z2.float()) / len(z1)  # DxD
        on_diag = (torch.diagonal(c) - 1).pow(2).sum()
        off_diag = c.pow(2).sum() - torch.diagonal(c).pow(2).sum()
        if self.weighting == "standard":
            return on_diag + self.lambd * off_diag
        return self.scale * (on_diag + off_diag) / 32
