"""A resumable stream of two-view training batches.

Shuffling is a function of (seed, epoch) and each sample's augmentation is seeded by
(seed, epoch, index), so the batches from any step on are the same whether the run started there
or resumed there, and whichever DataLoader worker draws them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import torch
from torch.utils.data import Dataset, Sampler

from ..data.adapters import ImageDataset


def sample_seed(seed: int, epoch: int, index: int) -> int:
    digest = hashlib.blake2b(f"{seed}/{epoch}/{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


class EpochSampler(Sampler):
    """Yields `(epoch, index)` keys for `total_batches` full global batches, starting at
    `start_batch` (counted from the very beginning); each epoch is a fresh seeded permutation.
    Under DDP, rank r takes the r-th contiguous slice of every global batch."""

    def __init__(
        self, size: int, batch_size: int, total_batches: int, seed: int, start_batch: int = 0,
        rank: int = 0, world_size: int = 1,
    ):  # fmt: skip
        self.batches_per_epoch = size // batch_size
        if self.batches_per_epoch < 1:
            raise ValueError(
                f"The dataset has {size} images, fewer than one batch of {batch_size}."
            )
        if batch_size % world_size:
            raise ValueError(
                f"batch_size {batch_size} does not split evenly over {world_size} processes."
            )
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.total_batches, self.start_batch = total_batches, start_batch
        self.local_batch, self.rank = batch_size // world_size, rank

    def __len__(self) -> int:
        return (self.total_batches - self.start_batch) * self.local_batch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        batch = self.start_batch
        while batch < self.total_batches:
            epoch, offset = divmod(batch, self.batches_per_epoch)
            generator = torch.Generator().manual_seed(sample_seed(self.seed, epoch, -1))
            order = torch.randperm(self.size, generator=generator)
            for position in range(offset, self.batches_per_epoch):
                if batch >= self.total_batches:
                    return
                start = position * self.batch_size + self.rank * self.local_batch
                for index in order[start : start + self.local_batch]:
                    yield epoch, int(index)
                batch += 1


class SeededViews(Dataset):
    """`dataset[index]` augmented under the torch RNG seeded per (seed, epoch, index), with that
    seed as `"seed"` (which `BatchViews` draws from). The caller's RNG state is restored after,
    so that loading in the training process (`num_workers=0`) leaves the training's random draws
    (shuffle-BN) independent of which images it loaded."""

    def __init__(self, dataset: ImageDataset, seed: int):
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        epoch, index = key
        seed = sample_seed(self.seed, epoch, index)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            sample = self.dataset[index]
        return None if sample is None else {**sample, "seed": seed}
