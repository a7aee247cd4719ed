"""Batched feature extraction from a MoCo-IM encoder: pooled embeddings of chosen layers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .image_processing_mocoim import MocoImImageProcessor
from .imaging import ImageLike
from .modeling_mocoim import LayerSpec, MocoImModel


def _batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@torch.inference_mode()
def embed_images(
    model: MocoImModel,
    processor: MocoImImageProcessor,
    images: Sequence[ImageLike],
    layers: LayerSpec | Sequence[LayerSpec] | None = "layer4",
    batch_size: int = 32,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """Global-average-pooled features of `layers` for each image, as `{layer: (n, channels)}`.

    Images may be anything the processor takes (PIL, arrays, tensors, file paths incl. DICOM).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    model.eval()
    parameter = next(model.parameters())
    chunks: dict[str, list[np.ndarray]] = {}
    batches = _batches(images, batch_size)
    total = -(-len(images) // batch_size)
    for batch in tqdm(batches, total=total, desc="embedding", unit="batch", disable=not progress):
        pixels = processor(list(batch))["pixel_values"].to(parameter.device, parameter.dtype)
        for name, feature in model.layer_features(pixels, layers=layers, pooled=True).items():
            chunks.setdefault(name, []).append(feature.float().cpu().numpy())
    return {name: np.concatenate(parts) for name, parts in chunks.items()}
