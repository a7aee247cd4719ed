"""Multi-process training under `torchrun` / `accelerate launch` (which set RANK, WORLD_SIZE,
LOCAL_RANK): process-group set-up and the collectives MoCo-IM needs. Every helper is the
identity in a single process, so the model code reads the same with or without a launcher."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_autograd


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


def world_size() -> int:
    """Processes in the current group (1 without one)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


@torch.no_grad()
def all_gather(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenation of `tensor` from every rank, in rank order (no gradient)."""
    if world_size() == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


def all_gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """`all_gather` through which gradients flow back to each rank's own part. Every rank then
    computes the same global-batch loss; its backward sums the ranks' gradients for the local
    part, and DDP's averaging turns that sum back into the one-process gradient."""
    if world_size() == 1:
        return tensor
    return torch.cat(dist_autograd.all_gather(tensor.contiguous()))


@torch.no_grad()
def shuffle_across_ranks(
    batch: torch.Tensor,
) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """MoCo's shuffle-BN over processes (facebookresearch/moco, `_batch_shuffle_ddp`): this rank's
    share of the global batch in a random order drawn on rank 0, and the function that brings
    the key encoder's outputs for that share back to this rank's own samples, in order.

    With one BatchNorm per process, each key is then normalised with statistics of samples
    mostly from other ranks, never with exactly its query's batch. Needs equal batches per rank.
    In one process the permutation covers the batch (useful with `SplitBatchNorm2d`)."""
    everything = all_gather(batch)
    order = torch.randperm(len(everything))  # on the CPU generator, the same on any device
    if world_size() > 1:
        order = order.to(batch.device)
        dist.broadcast(order, src=0)
    rank = dist.get_rank() if world_size() > 1 else 0
    mine = slice(rank * len(batch), (rank + 1) * len(batch))
    restore = torch.argsort(order)[mine].to(batch.device)

    def unshuffle(outputs: torch.Tensor) -> torch.Tensor:
        return all_gather(outputs)[restore]

    return everything[order[mine].to(batch.device)], unshuffle


def mean_over_ranks(value: float, info: Distributed, device: torch.device) -> float:
    if not info.enabled:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.item() / info.world_size
