"""What one process of a multi-process check does; run by `torchrun --nproc_per_node 2 ranks.py
CHECK OUTPUT_DIR` (gloo on CPU). Each rank saves what it saw to OUTPUT_DIR/rank<r>.pt for the test
to compare with one process on the whole batch."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from mocoim_hub import MocoImConfig, MocoImModel
from mocoim_hub.pretraining import IntermediateLoss, MocoIm

GLOBAL_BATCH = 8


def tagged_views() -> torch.Tensor:
    """A global batch of 32 px images whose top-left pixel holds the image's index."""
    views = torch.randn(GLOBAL_BATCH, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    views[:, 0, 0, 0] = torch.arange(GLOBAL_BATCH, dtype=torch.float32)
    return views


def tiny_moco() -> MocoIm:
    torch.manual_seed(0)
    return MocoIm(MocoImModel(MocoImConfig(image_size=32)), dim=8, queue_size=16, shuffle_bn=True)


def shuffle_bn(rank: int, world: int) -> dict:
    """Which images each rank's key encoder normalises together, under MocoIm's shuffle-BN."""
    moco = tiny_moco()
    seen = {}
    for side, encoder in (("query", moco.encoder_q), ("key", moco.encoder_k)):
        encoder.encoder.conv1.register_forward_pre_hook(  # conv1 feeds the first BatchNorm
            lambda module, inputs, side=side: seen.__setitem__(side, inputs[0][:, 0, 0, 0].long())
        )
    local = tagged_views().chunk(world)[rank]
    moco(local, local)
    return {**seen, "queue": moco.queue[:GLOBAL_BATCH].clone()}


class BarlowProbe(nn.Module):
    """A 1x1 conv standing in for an encoder, under a layer1 Barlow-Twins loss; the key side is a
    frozen copy, as MoCo's key encoder."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.encoder = nn.Conv2d(6, 16, 1)
        self.key_encoder = nn.Conv2d(6, 16, 1).requires_grad_(False)
        self.loss = IntermediateLoss("barlow", {1: 1.0}, [16, 16], barlow_dim=8)

    def forward(self, view1: torch.Tensor, view2: torch.Tensor) -> torch.Tensor:
        query = self.loss.reduce({"layer1": self.encoder(view1)})
        key = self.loss.reduce({"layer1": self.key_encoder(view2)})
        return self.loss(query, key)[0]


def barlow_views() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(2)
    return tuple(torch.randn(GLOBAL_BATCH, 6, 2, 2, generator=generator) for _ in (0, 1))


def barlow(rank: int, world: int) -> dict:
    """The loss and DDP-averaged gradients of a Barlow-Twins step on this rank's share (without
    a process group: the loss of that share alone)."""
    probe = BarlowProbe()
    model = nn.parallel.DistributedDataParallel(probe) if dist.is_initialized() else probe
    view1, view2 = (view.chunk(world)[rank] for view in barlow_views())
    loss = model(view1, view2)
    loss.backward()
    grads = {name: p.grad for name, p in probe.named_parameters() if p.grad is not None}
    return {"loss": loss.detach(), "grads": grads}


CHECKS = {"shuffle_bn": shuffle_bn, "barlow": barlow}

if __name__ == "__main__":
    check, output = sys.argv[1], Path(sys.argv[2])
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.save(CHECKS[check](rank, world), output / f"rank{rank}.pt")
    dist.destroy_process_group()
