"""Frozen-encoder features: `embed_images` for a list of images, `extract_features` for a whole
dataset, cached on disk so that a sweep over label fractions, seeds and regularisation extracts
each (model, dataset) pair once. Inference-side: needs only the base install.

The cache key hashes the model's weights and config, the image processor's settings, the dataset's
images (file paths with size and modification time, or the encoded bytes) and the layers: change
any of them and the features are extracted again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .configuration_mocoim import STAGE_NAMES
from .data.adapters import BadImagePolicy, ImageDataset
from .data.loading import make_loader
from .image_processing_mocoim import MocoImImageProcessor
from .imaging import ImageLike
from .modeling_mocoim import LayerSpec, MocoImModel, resolve_layers

__all__ = ["embed_images", "extract_features", "ProcessedImages"]


def model_fingerprint(model: MocoImModel) -> str:
    digest = hashlib.sha256(model.config.to_json_string(use_diff=False).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(
            tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        )
    return digest.hexdigest()


def dataset_fingerprint(dataset: ImageDataset) -> str:
    digest = hashlib.sha256(np.asarray(dataset.rows).tobytes())
    for row in dataset.rows:
        source = dataset.images[int(row)]
        if isinstance(source, dict):  # undecoded datasets Image
            source = source.get("bytes") or source.get("path")
        if isinstance(source, bytes):
            digest.update(source)
        elif isinstance(source, (str, os.PathLike)):
            stat = os.stat(source)
            digest.update(f"{source}|{stat.st_size}|{stat.st_mtime_ns}".encode())
        else:
            digest.update(np.asarray(source).tobytes())
    return digest.hexdigest()


class ProcessedImages(torch.utils.data.Dataset):
    """`dataset` with images prepared by `processor`, for a DataLoader (decoding in workers)."""

    def __init__(self, dataset: ImageDataset, processor: MocoImImageProcessor):
        self.dataset, self.processor = dataset.subset(np.arange(len(dataset))), processor
        self.dataset.transform = None

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        sample = self.dataset[index]
        if sample is not None:
            sample["image"] = self.processor(sample["image"])["pixel_values"][0]
            sample["index"] = index
        return sample


@torch.inference_mode()
def extract_features(
    model: MocoImModel,
    dataset: ImageDataset,
    layers: LayerSpec | Sequence[LayerSpec] = "layer4",
    batch_size: int = 128,
    processor: MocoImImageProcessor | None = None,
    cache_dir: str | Path | None = None,
    num_workers: int | None = None,
    progress: bool = True,
    compile: bool = False,
) -> dict[str, np.ndarray]:
    """Global-average-pooled features `{layer: (len(dataset), channels)}` of a frozen encoder.

    `processor` defaults to the one the model's config implies. With `cache_dir`, features are
    read from / written to `cache_dir/<key>.npz`. `compile` runs the encoder through
    `torch.compile` (worth it for large datasets; compiling takes a while). Images that fail to
    decode under `on_bad_image="skip"` get NaN rows (their indices stay aligned with labels).
    """
    processor = processor or MocoImImageProcessor.from_model_config(model.config)
    names = [STAGE_NAMES[i] for i in resolve_layers(layers)]
    path = None
    if cache_dir is not None:
        key = hashlib.sha256(json.dumps([model_fingerprint(model), processor.to_json_string(),
                                         dataset_fingerprint(dataset), names]).encode())  # fmt: skip
        path = Path(cache_dir) / f"{key.hexdigest()[:32]}.npz"
        if path.exists():
            with np.load(path) as cached:
                return {name: cached[name] for name in names}
    was_training = model.training
    model.eval()
    parameter = next(model.parameters())
    widths = model.config.hidden_sizes
    features = {
        n: np.full((len(dataset), widths[STAGE_NAMES.index(n)]), np.nan, np.float32) for n in names
    }
    loader = make_loader(ProcessedImages(dataset, processor), batch_size, num_workers=num_workers,
                         device=parameter.device)  # fmt: skip
    layer_features = torch.compile(model.layer_features) if compile else model.layer_features
    for batch in tqdm(loader, desc="extracting features", unit="batch", disable=not progress):
        if "image" not in batch:
            continue
        pixels = batch["image"].to(parameter.device, parameter.dtype)
        for name, value in layer_features(pixels, layers=names).items():
            features[name][batch["index"].numpy()] = value.float().cpu().numpy()
    model.train(was_training)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npz")
        np.savez(partial, **features)
        partial.replace(path)  # atomic: a killed run never leaves a truncated cache entry
    return features


def embed_images(
    model: MocoImModel,
    processor: MocoImImageProcessor,
    images: Sequence[ImageLike],
    layers: LayerSpec | Sequence[LayerSpec] | None = "layer4",
    batch_size: int = 32,
    progress: bool = True,
    on_bad_image: BadImagePolicy = "error",
    compile: bool = False,
) -> dict[str, np.ndarray]:
    """Global-average-pooled features of `layers` for each image, as `{layer: (n, channels)}`.

    Images may be anything the processor takes (PIL, arrays, tensors, file paths incl. DICOM).
    With `on_bad_image="skip"` an unreadable file gets a row of NaN instead of an error;
    `compile` as in `extract_features`.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    unlabelled = ImageDataset(list(images), np.zeros(len(images), np.int64), ["unlabelled"],
                              on_bad_image=on_bad_image)  # fmt: skip
    return extract_features(model, unlabelled, layers=layers, batch_size=batch_size,
                            processor=processor, num_workers=0, progress=progress,
                            compile=compile)  # fmt: skip
