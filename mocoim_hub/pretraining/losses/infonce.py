"""InfoNCE against a queue of negatives, as in MoCo (He et al., CVPR 2020; Chen et al., 2020)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class InfoNCELoss(nn.Module):
    """Cross-entropy of the positive key among the positive and the queued negatives.

    Args:
        temperature: T > 0 (MoCo v2: 0.2; the MoCo-IM authors: 0.07).

    Shapes: `query`, `key` (N, D) and `queue` (K, D), all L2-normalised; returns a scalar.
    """

    def __init__(self, temperature: float = 0.2):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}.")
        self.temperature = temperature

    def forward(self, query: torch.Tensor, key: torch.Tensor, queue: torch.Tensor) -> torch.Tensor:
        positive = (query * key).sum(dim=1, keepdim=True)  # Nx1
        negative = query @ queue.T  # NxK
        logits = torch.cat([positive, negative], dim=1) / self.temperature
        targets = torch.zeros(
            len(query), dtype=torch.long, device=query.device
        )  # positives: column 0
        return F.cross_entropy(logits.float(), targets)
