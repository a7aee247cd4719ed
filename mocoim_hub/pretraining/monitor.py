"""Online k-nearest-neighbour monitor: how well the current embedding separates labelled classes,
measured during pretraining without training anything (weighted kNN as in Wu et al., 2018)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from ..data.adapters import ImageDataset
from ..image_processing_mocoim import MocoImImageProcessor
from ..modeling_mocoim import MocoImModel


@dataclass
class KnnMonitor:
    """Pixel tensors and labels of a memory bank and a query set, prepared once.

    Build with `KnnMonitor.from_splits`; call `accuracy(encoder)` whenever a figure is wanted.
    """

    bank: torch.Tensor
    bank_labels: torch.Tensor
    queries: torch.Tensor
    query_labels: torch.Tensor
    k: int = 20
    temperature: float = 0.07

    @staticmethod
    def check_labels(train: ImageDataset) -> None:
        """Refuse images the monitor cannot score: unlabelled, or with several labels each."""
        if not train.labelled:
            raise ValueError(
                "The kNN monitor needs labelled images; these have none. Set knn_every to 0 "
                "(--knn-every 0) to pretrain without it."
            )
        if train.problem_type != "single_label_classification":
            raise ValueError(
                "The kNN monitor needs single-label classes; this dataset is multi-label. Set "
                "knn_every to 0 (--knn-every 0) to pretrain without it."
            )

    @classmethod
    def from_splits(
        cls,
        train: ImageDataset,
        evaluation: ImageDataset,
        processor: MocoImImageProcessor,
        bank_size: int = 2000,
        query_size: int = 500,
        seed: int = 0,
    ) -> KnnMonitor:
        cls.check_labels(train)
        rng = np.random.default_rng(seed)

        def prepare(dataset: ImageDataset, size: int) -> tuple[torch.Tensor, torch.Tensor]:
            picks = rng.choice(len(dataset), size=min(size, len(dataset)), replace=False)
            subset = dataset.subset(picks)
            subset.transform = None
            samples = [s for s in (subset[i] for i in range(len(subset))) if s is not None]
            pixels = processor([s["image"] for s in samples])["pixel_values"]
            return pixels, torch.stack([s["labels"] for s in samples])

        return cls(*prepare(train, bank_size), *prepare(evaluation, query_size))

    @torch.no_grad()
    def accuracy(self, encoder: MocoImModel, batch_size: int = 256) -> float:
        """Top-1 accuracy of similarity-weighted votes of the k nearest bank images."""
        was_training = encoder.training
        encoder.eval()
        parameter = next(encoder.parameters())

        def embed(pixels: torch.Tensor) -> torch.Tensor:
            chunks = [
                encoder(chunk.to(parameter.device)).pooler_output.float()
                for chunk in pixels.split(batch_size)
            ]
            return F.normalize(torch.cat(chunks), dim=1)

        bank, queries = embed(self.bank), embed(self.queries)
        encoder.train(was_training)
        with torch.autocast(bank.device.type, enabled=False):  # float32 votes under bf16 too
            similarity, nearest = (queries @ bank.T).topk(min(self.k, len(bank)), dim=1)
        votes = torch.zeros(len(queries), int(self.bank_labels.max()) + 1, device=bank.device)
        neighbour_labels = self.bank_labels.to(bank.device)[nearest]
        votes.scatter_add_(1, neighbour_labels, (similarity / self.temperature).exp())
        predictions = votes.argmax(dim=1).cpu()
        return (predictions == self.query_labels).float().mean().item()
