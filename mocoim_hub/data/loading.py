"""DataLoaders for training and evaluation: workers, pinned memory on CUDA, seeded shuffling,
and batches that leave out images that failed to decode (with `on_bad_image="skip"`)."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset


def collate_skipping_bad(samples: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Batch the samples that decoded; `skipped` says how many of this batch did not."""
    good = [s for s in samples if s is not None]
    if not good:
        return {"skipped": len(samples)}
    batch: dict[str, Any] = torch.utils.data.default_collate(
        [{k: v for k, v in s.items() if k != "patient_id"} for s in good]
    )
    batch["patient_id"] = [s["patient_id"] for s in good]
    batch["skipped"] = len(samples) - len(good)
    return batch


class CachedSamples(Dataset):
    """`dataset[index]` kept in memory after its first load, for datasets whose transform draws
    nothing at random (`fixed_size_transform`): from the second epoch on, nothing is decoded.
    Each DataLoader worker keeps its own copy."""

    def __init__(self, dataset: Dataset):
        self.dataset, self.samples = dataset, {}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        if index not in self.samples:
            self.samples[index] = self.dataset[index]
        return self.samples[index]


def worker_count(num_workers: int | None) -> int:
    """`num_workers`, or by default the CPUs this process may use, at most 8."""
    if num_workers is not None:
        return num_workers
    return min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool = False,
    num_workers: int | None = None,
    device: str | torch.device = "cpu",
    drop_last: bool = False,
    seed: int = 0,
) -> DataLoader:
    """A DataLoader that keeps decoding and augmentation off the training step's critical path:
    `num_workers` defaults to the CPU count (at most 8), workers persist across epochs, memory is
    pinned for CUDA, and shuffling is seeded so a run (and its resume) sees the same order."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    num_workers = worker_count(num_workers)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        collate_fn=collate_skipping_bad,
        pin_memory=torch.device(device).type == "cuda",
        drop_last=drop_last,
        persistent_workers=num_workers > 0,
        prefetch_factor=4 if num_workers > 0 else None,
        generator=generator,
    )
