"""Embeddings of a list of images: pooled features of chosen layers (see
`mocoim_hub.finetune.extract_features` for whole datasets, with an on-disk cache)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .data.adapters import ImageDataset
from .finetune.features import extract_features
from .image_processing_mocoim import MocoImImageProcessor
from .imaging import ImageLike
from .modeling_mocoim import LayerSpec, MocoImModel


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
    unlabelled = ImageDataset(list(images), np.zeros(len(images), np.int64), ["unlabelled"])
    return extract_features(model, unlabelled, layers=layers, batch_size=batch_size,
                            processor=processor, num_workers=0, progress=progress)  # fmt: skip
