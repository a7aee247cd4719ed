"""MoCo v2 with intermediate-layer losses: the query/key encoders, the queue and the loss.

Follows facebookresearch/moco's `builder.py`: the key encoder is an exponential moving average of
the query encoder, updated before the keys are computed; keys are computed without gradient and
enqueued after the loss. The MoCo-IM addition (Kaku et al., NeurIPS 2021) pulls layer1..layer4 of
the query encoder on view 1 towards those of the key encoder on view 2.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from ..modeling_mocoim import MocoImModel
from . import distributed
from .losses import BarlowTwinsLoss, InfoNCELoss, IntermediateMSELoss, barlow_projector


@dataclass
class MocoImOutput:
    """Total loss and its parts (detached floats are for logging)."""

    loss: torch.Tensor
    infonce: torch.Tensor
    intermediate: torch.Tensor
    per_layer: dict[str, torch.Tensor] = field(default_factory=dict)


def projection_head(in_dim: int, out_dim: int, mlp: bool) -> nn.Module:
    """MoCo's fc: linear (v1, and the MoCo-IM authors) or Linear-ReLU-Linear (v2)."""
    if not mlp:
        return nn.Linear(in_dim, out_dim)
    return nn.Sequential(
        nn.Linear(in_dim, in_dim), nn.ReLU(inplace=True), nn.Linear(in_dim, out_dim)
    )


class IntermediateLoss(nn.Module):
    """Weighted sum over layers of an MSE or Barlow-Twins loss between query and key features.

    Args:
        kind: `"mse"` or `"barlow"`.
        layers: stage numbers (1..4) and their weights, e.g. `{1: 0.25, 2: 0.25, 3: 0.25, 4: 0.25}`.
        channels: channels of each stage (`config.hidden_sizes`, stem first).
        mse_form: see `IntermediateMSELoss`.
        mse_grids: see `IntermediateMSELoss`; a grid per layer.
        mse_normalize: see `IntermediateMSELoss`.
        barlow_weighting: see `BarlowTwinsLoss`.
        barlow_dim: the Barlow-Twins projector's width.
    """

    def __init__(
        self,
        kind: str,
        layers: dict[int, float],
        channels: list[int],
        mse_form: str = "pooled",
        mse_grids: dict[int, int] | None = None,
        mse_normalize: bool = False,
        barlow_weighting: str = "standard",
        barlow_dim: int = 2048,
    ):
        super().__init__()
        if kind not in ("mse", "barlow"):
            raise ValueError(f"Unknown intermediate loss {kind!r}; expected 'mse' or 'barlow'.")
        if not layers or any(layer not in (1, 2, 3, 4) for layer in layers):
            raise ValueError(f"layers must map stage numbers 1..4 to weights, got {layers}.")
        self.kind, self.weights = kind, {int(k): float(v) for k, v in layers.items()}
        grids = mse_grids or {}
        self.losses = nn.ModuleDict()
        self.projectors = nn.ModuleDict()
        for layer in self.weights:
            name = f"layer{layer}"
            if kind == "mse":
                self.losses[name] = IntermediateMSELoss(
                    mse_form, grids.get(layer, 4), mse_normalize
                )
            else:
                self.projectors[name] = barlow_projector(channels[layer], barlow_dim)
                self.losses[name] = BarlowTwinsLoss(barlow_dim, barlow_weighting)

    def reduce(self, maps: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """What the loss needs of each layer's map: the MSE's pooled grid in float32, Barlow-Twins'
        pooled vector. Computed right after the encoder, so the key side keeps nothing else of
        its maps and gathers or shuffles only these."""
        return {
            name: loss.pool(maps[name])
            if self.kind == "mse"
            else F.adaptive_avg_pool2d(maps[name], 1).flatten(1)
            for name, loss in self.losses.items()
        }

    def forward(
        self, query_features: dict[str, torch.Tensor], key_features: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Weighted loss between `reduce`d query and key features, and its value per layer."""
        parts = {}
        for name, loss in self.losses.items():
            query, key = query_features[name], key_features[name]
            if self.kind == "mse":  # a per-sample mean: DDP's gradient averaging makes it global
                parts[name] = loss.compare(query, key)
                continue
            # Barlow-Twins over the global batch: the projector's BatchNorm and the
            # cross-correlation see every rank's samples (identical loss on every rank). One
            # projector serves both sides; the key side has no encoder gradient.
            projector = self.projectors[name]
            query = projector(distributed.all_gather_with_grad(query))
            parts[name] = loss(query, projector(distributed.all_gather(key)))
        total = sum(self.weights[int(name[5:])] * value for name, value in parts.items())
        return total, parts


class MocoIm(nn.Module):
    """MoCo v2 (+ an optional intermediate-layer loss) around a `MocoImModel` query encoder.

    Args:
        encoder: the query encoder; a copy becomes the key encoder.
        dim: size of the normalised embedding compared by InfoNCE (128).
        queue_size: K negatives (65536 in the paper; must be a multiple of the global batch).
        momentum: EMA factor m of the key encoder (0.999).
        temperature: InfoNCE temperature T.
        mlp: v2 MLP projection head instead of a linear one.
        intermediate: an `IntermediateLoss`, or `None` for plain MoCo v2.
        shuffle_bn: MoCo's shuffle-BN: the key encoder sees the global batch in a random order
            (across processes when there are several; `SplitBatchNorm2d` groups in one), and its
            outputs are put back in order, so that a key's BatchNorm statistics never come from
            exactly its query's batch.

    Under `torch.distributed` the queue receives every rank's keys, Barlow-Twins works on the global
    batch and shuffle-BN crosses ranks; in one process all three are local.
    """

    def __init__(
        self,
        encoder: MocoImModel,
        dim: int = 128,
        queue_size: int = 65536,
        momentum: float = 0.999,
        temperature: float = 0.2,
        mlp: bool = True,
        intermediate: IntermediateLoss | None = None,
        shuffle_bn: bool = False,
    ):
        super().__init__()
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}.")
        if queue_size < 1:
            raise ValueError(f"queue_size must be positive, got {queue_size}.")
        self.encoder_q = encoder
        self.head_q = projection_head(encoder.config.hidden_size, dim, mlp)
        self.encoder_k = copy.deepcopy(encoder)
        self.head_k = copy.deepcopy(self.head_q)
        for parameter in self.key_parameters():
            parameter.requires_grad = False
        self.momentum = momentum
        self.infonce = InfoNCELoss(temperature)
        self.intermediate = intermediate
        self.shuffle_bn = shuffle_bn
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, dim), dim=1))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))
        self.layers = ["layer4"] + (
            [name for name in intermediate.losses if name != "layer4"] if intermediate else []
        )

    def compile_encoders(self) -> None:
        """`torch.compile` the encoder-and-head passes; collectives, queue and losses stay eager.
        Parameters and state dict are those of the eager model, so checkpoints resume either way."""
        self._embed = torch.compile(self._embed)

    def key_parameters(self) -> list[nn.Parameter]:
        return [*self.encoder_k.parameters(), *self.head_k.parameters()]

    def query_parameters(self) -> list[nn.Parameter]:
        return [*self.encoder_q.parameters(), *self.head_q.parameters()]

    @torch.no_grad()
    def momentum_update(self, momentum: float | None = None) -> None:
        """θ_k ← m θ_k + (1 − m) θ_q."""
        m = self.momentum if momentum is None else momentum
        keys, queries = self.key_parameters(), self.query_parameters()
        torch._foreach_mul_(keys, m)
        torch._foreach_add_(keys, queries, alpha=1 - m)

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Replace the oldest queue entries with `keys` (N, dim), wrapping around the end."""
        keys = distributed.all_gather(keys)
        size, start = len(self.queue), int(self.queue_ptr)
        positions = (start + torch.arange(len(keys), device=keys.device)) % size
        self.queue[positions] = keys.to(self.queue.dtype)
        self.queue_ptr.fill_((start + len(keys)) % size)

    def _embed(self, encoder, head, pixels) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The normalised embedding and what the intermediate loss needs of each layer."""
        maps = encoder.layer_features(pixels, layers=self.layers, pooled=False)
        embedding = head(F.adaptive_avg_pool2d(maps["layer4"], 1).flatten(1))
        features = self.intermediate.reduce(maps) if self.intermediate else {}
        return F.normalize(embedding.float(), dim=1), features

    @torch.no_grad()
    def _keys(self, view2: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if not self.shuffle_bn:
            return self._embed(self.encoder_k, self.head_k, view2)
        shuffled, unshuffle = distributed.shuffle_across_ranks(view2)
        key, features = self._embed(self.encoder_k, self.head_k, shuffled)
        return unshuffle(key), {name: unshuffle(value) for name, value in features.items()}

    def forward(
        self,
        view1: torch.Tensor,
        view2: torch.Tensor,
        momentum: float | None = None,
        update_keys: bool = True,
    ) -> MocoImOutput:
        """Loss for a batch of two views (N, C, H, W) each; enqueues the batch's keys.

        The key encoder takes its EMA step first when `update_keys` (with momentum `momentum`, or
        the model's). With gradient accumulation pass it on the first micro-batch of each
        optimizer step only: one EMA update per step, as without accumulation. The queue still
        advances per micro-batch, so a micro-batch's keys are negatives for the next one."""
        query, query_features = self._embed(self.encoder_q, self.head_q, view1)  # NxD
        if update_keys:
            self.momentum_update(momentum)
        key, key_features = self._keys(view2)
        infonce = self.infonce(query, key, self.queue.clone().detach())
        intermediate, parts = (
            self.intermediate(query_features, key_features)
            if self.intermediate
            else (infonce.new_zeros(()), {})
        )
        self.enqueue(key)
        return MocoImOutput(infonce + intermediate, infonce, intermediate, parts)
