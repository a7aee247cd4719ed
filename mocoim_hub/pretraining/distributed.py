"""Multi-process training under `torchrun` / `accelerate launch` (which set RANK, WORLD_SIZE,
LOCAL_RANK): process-group set-up and the all-gather MoCo needs before enqueueing keys."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device_type: str) -> Distributed:
    """Join the process group the launcher describes (NCCL on CUDA, gloo on CPU); one process
    without a launcher."""
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    if world_size == 1:
        return Distributed()
    info = Distributed(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", 0)))
    if device_type == "cuda":
        torch.cuda.set_device(info.local_rank)
    dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return info


@torch.no_grad()
def all_gather(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenation of `tensor` from every rank, in rank order (no gradient)."""
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


def mean_over_ranks(value: float, info: Distributed, device: torch.device) -> float:
    if not info.enabled:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.item() / info.world_size
