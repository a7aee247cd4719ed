"""Online monitor of pretraining, for any data, measured without training anything.

- With single-label classes: top-1 accuracy of a similarity-weighted kNN vote (Wu et al., 2018)
  of the validation images among a bank of train images (`knn_top1`).
- With several labels per image: the same vote gives each label a score (the weighted share of
  neighbours that have it); `knn_auroc` is the mean AUROC of those scores over the labels.
- Always, labels or not: `embedding_rank`, the effective rank of the bank's pooled embeddings
  (RankMe; Garrido et al., ICML 2023): exp of the entropy of the normalised singular values.
  It needs no labels and falls towards 1 when the encoder collapses (every image mapped to the
  same direction, the failure of contrastive training gone wrong), and Garrido et al. found it
  tracks downstream accuracy; so an unlabelled run still shows whether it is learning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from ..data.adapters import ImageDataset
from ..finetune.metrics import auroc
from ..image_processing_mocoim import MocoImImageProcessor
from ..modeling_mocoim import MocoImModel


@dataclass
class KnnMonitor:
    """Pixel tensors of a memory bank and (with labels) of a query set, prepared once.

    Build with `KnnMonitor.from_splits`; call `measure(encoder)` whenever figures are wanted.
    Labels are class indices `(n,)` or a multi-hot matrix `(n, num_labels)`.
    """

    bank: torch.Tensor
    bank_labels: torch.Tensor | None = None
    queries: torch.Tensor | None = None
    query_labels: torch.Tensor | None = None
    k: int = 20
    temperature: float = 0.07

    @classmethod
    def from_splits(
        cls,
        train: ImageDataset,
        evaluation: ImageDataset | None,
        processor: MocoImImageProcessor,
        bank_size: int = 2000,
        query_size: int = 500,
        seed: int = 0,
    ) -> KnnMonitor:
        """A bank of train images and, when `train` is labelled and `evaluation` is given, a
        query set of those images; unlabelled, the bank alone (for `embedding_rank`)."""
        rng = np.random.default_rng(seed)

        def prepare(dataset: ImageDataset, size: int) -> tuple[torch.Tensor, torch.Tensor]:
            picks = rng.choice(len(dataset), size=min(size, len(dataset)), replace=False)
            subset = dataset.subset(picks)
            subset.transform = None
            samples = [s for s in (subset[i] for i in range(len(subset))) if s is not None]
            pixels = processor([s["image"] for s in samples])["pixel_values"]
            return pixels, torch.stack([s["labels"] for s in samples])

        bank, bank_labels = prepare(train, bank_size)
        if not train.labelled or evaluation is None:
            return cls(bank)
        return cls(bank, bank_labels, *prepare(evaluation, query_size))

    @torch.no_grad()
    def measure(self, encoder: MocoImModel, batch_size: int = 256) -> dict[str, float]:
        """`embedding_rank`, and `knn_top1` (single-label) or `knn_auroc` (multi-label)."""
        was_training = encoder.training
        encoder.eval()
        parameter = next(encoder.parameters())

        def embed(pixels: torch.Tensor) -> torch.Tensor:
            chunks = [
                encoder(chunk.to(parameter.device)).pooler_output.float()
                for chunk in pixels.split(batch_size)
            ]
            return torch.cat(chunks)

        try:
            bank = embed(self.bank)
            figures = {"embedding_rank": effective_rank(bank)}
            if self.queries is None:
                return figures
            queries = F.normalize(embed(self.queries), dim=1)
        finally:
            encoder.train(was_training)
        with torch.autocast(bank.device.type, enabled=False):  # float32 votes under bf16 too
            similarity, nearest = (queries @ F.normalize(bank, dim=1).T).topk(
                min(self.k, len(bank)), dim=1
            )
        weights = (similarity / self.temperature).exp()
        neighbour_labels = self.bank_labels.to(bank.device)[nearest]
        if self.bank_labels.ndim == 1:
            votes = torch.zeros(len(queries), int(self.bank_labels.max()) + 1, device=bank.device)
            votes.scatter_add_(1, neighbour_labels, weights)
            predictions = votes.argmax(dim=1).cpu()
            figures["knn_top1"] = (predictions == self.query_labels).float().mean().item()
        else:  # (queries, k, labels): the weighted share of neighbours with each label
            scores = (weights[..., None] * neighbour_labels).sum(1) / weights.sum(1, keepdim=True)
            per_label = [
                auroc(self.query_labels[:, j].numpy(), scores[:, j].cpu().numpy())
                for j in range(scores.shape[1])
            ]
            figures["knn_auroc"] = float(np.nanmean(per_label))
        return figures

    def accuracy(self, encoder: MocoImModel, batch_size: int = 256) -> float:
        """Top-1 accuracy of similarity-weighted votes of the k nearest bank images."""
        return self.measure(encoder, batch_size)["knn_top1"]


def effective_rank(embeddings: torch.Tensor) -> float:
    """exp(entropy) of the singular values of `embeddings` (n, d) normalised to sum to 1: between
    1 (all rows along one direction) and min(n, d) (all directions used equally)."""
    singular = torch.linalg.svdvals(embeddings.float().cpu())
    p = singular / singular.sum().clamp_min(1e-12) + 1e-7
    return float(torch.exp(-(p * p.log()).sum()))
