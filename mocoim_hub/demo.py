"""What the Gradio demo (`app.py`) computes, without Gradio: load a model once, read an upload
safely, show the input as the model sees it, pooled embeddings, per-layer activation maps,
per-layer similarity of two images, classification and nearest neighbours in a gallery."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F

from .configuration_mocoim import STAGE_NAMES, MocoImConfig
from .data.adapters import ImageDataset, concatenate, default_dataset
from .data.kinds import kind_for, open_dataset
from .data.summary import summarize
from .features import extract_features
from .image_processing_mocoim import MocoImImageProcessor
from .imaging import load_image, pil_to_array, scale_intensity
from .modeling_mocoim import MocoImForImageClassification, MocoImModel
from .sources import ModelNotFoundError, check_model_source

DEFAULT_MODEL = "runs/demo/model"  # what the README's main command writes
MAX_UPLOAD_BYTES = 64 * 2**20
LAYERS = STAGE_NAMES[1:]
CACHE_DIR = Path(os.environ.get("MOCOIM_HUB_CACHE", Path.home() / ".cache" / "mocoim_hub"))


def default_model_sources() -> list[str]:
    """`$MOCOIM_MODEL` (comma-separated folders or Hub ids), else the README's model."""
    sources = [s.strip() for s in os.environ.get("MOCOIM_MODEL", DEFAULT_MODEL).split(",")]
    return [s for s in sources if s]


def model_name(source: str) -> str:
    """How the app names a model to its users: a Hub id as it is, a folder by its own name (no
    server path)."""
    path = Path(source).expanduser()
    return path.resolve().name if path.is_dir() else source.strip()


@dataclass
class LoadedModel:
    source: str
    encoder: MocoImModel
    processor: MocoImImageProcessor
    classifier: MocoImForImageClassification | None  # when the checkpoint has a head


def is_model_source(source: str) -> bool:
    """A folder that exists, or something shaped like a Hub id (org/name)."""
    return Path(source).exists() or source.count("/") == 1


@functools.lru_cache(maxsize=4)
def load_model(source: str) -> LoadedModel:
    """The model at a folder or Hub id, loaded once per process."""
    source = source.strip()
    if not source:
        raise ValueError("No model given: enter a model folder or Hub id.")
    try:
        check_model_source(source)  # a mistyped path fails here, with a suggestion
    except ModelNotFoundError as error:
        raise ValueError(str(error)) from error
    if not is_model_source(source):
        raise ValueError(
            f"{source!r} is neither a folder nor a Hub id (org/name). Make the demo model with "
            "`mocoim-pretrain --recipe demo --output-dir runs/demo`."
        )
    try:
        processor = MocoImImageProcessor.from_pretrained(source)
        config = MocoImConfig.from_pretrained(source)
    except OSError as error:
        reason = str(error).strip().splitlines()[0]
        raise ValueError(
            f"Could not load a model from {source!r}: {reason} Make the demo model with "
            "`mocoim-pretrain --recipe demo --output-dir runs/demo`, or give another "
            "folder or Hub id."
        ) from error
    if "MocoImForImageClassification" in (config.architectures or []):
        classifier = MocoImForImageClassification.from_pretrained(source).eval()
        return LoadedModel(source, classifier.mocoim, processor, classifier)
    return LoadedModel(source, MocoImModel.from_pretrained(source).eval(), processor, None)


def read_upload(
    upload: bytes | str | os.PathLike | None, max_bytes: int = MAX_UPLOAD_BYTES
) -> np.ndarray | object:
    """An upload (its bytes, or a file) as an image, or a ValueError that says what is wrong with
    it and names no server path."""
    if upload is None:
        raise ValueError("Upload an image first (PNG, JPEG, 16-bit PNG or DICOM).")
    size = len(upload) if isinstance(upload, bytes) else os.path.getsize(upload)
    if size > max_bytes:
        raise ValueError(
            f"The file is {size / 2**20:.0f} MB; the demo takes up to {max_bytes // 2**20} MB."
        )
    name = "the upload" if isinstance(upload, bytes) else Path(upload).name
    where = "<bytes>" if isinstance(upload, bytes) else os.fspath(upload)
    try:
        return load_image(upload)
    except Exception as error:  # any decoder failure is the upload's fault, not the server's
        reason = str(error).replace(where, name)
        raise ValueError(f"Could not read {name} as an image or DICOM file: {reason}") from error


def pixels_of(loaded: LoadedModel, image) -> torch.Tensor:
    return loaded.processor(image, return_tensors="pt")["pixel_values"]


def as_seen_by_model(loaded: LoadedModel, pixels: torch.Tensor) -> np.ndarray:
    """The processed input, un-normalised to uint8 for display, `(h, w, 3)`."""
    mean = torch.tensor(loaded.processor.image_mean).view(-1, 1, 1)
    std = torch.tensor(loaded.processor.image_std).view(-1, 1, 1)
    image = (pixels[0] * std + mean).clamp(0, 1).expand(3, -1, -1)
    return (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


@torch.inference_mode()
def embed(loaded: LoadedModel, pixels: torch.Tensor) -> np.ndarray:
    return loaded.encoder(pixels).pooler_output[0].numpy()


@torch.inference_mode()
def layer_maps(loaded: LoadedModel, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
    """The maps of layer1..layer4 from one forward: the embedding and the overlays share it."""
    return loaded.encoder.layer_features(pixels, layers=list(LAYERS), pooled=False)


def pooled_embedding(maps: dict[str, torch.Tensor]) -> np.ndarray:
    """`pooler_output` of the image whose `layer_maps` these are."""
    return maps[LAYERS[-1]][0].mean(dim=(1, 2)).numpy()


@torch.inference_mode()
def activation_overlays(
    loaded: LoadedModel, pixels: torch.Tensor, maps: dict[str, torch.Tensor] | None = None
) -> list[tuple[np.ndarray, str]]:
    """For layer1..layer4 (`maps`, else computed): mean absolute activation over channels,
    blended over the input.

    Maps of 2×2 cells or fewer are upsampled without interpolation, so no structure is invented;
    a map whose cells are equal (always so at 1×1) shows the input untinted and says so, instead
    of stretching rounding noise to the full colour range."""
    from matplotlib import colormaps

    base = as_seen_by_model(loaded, pixels).astype(np.float32) / 255
    maps = layer_maps(loaded, pixels) if maps is None else maps
    overlays = []
    for name, feature in maps.items():
        heat = feature[0].float().abs().mean(0)
        height, width = heat.shape
        caption = f"{name}: {feature.shape[1]} channels, {height}×{width}"
        low, high = float(heat.min()), float(heat.max())
        if high - low <= 1e-3 * max(abs(high), 1e-12):
            note = f"{caption}, uniform (mean |activation| {high:.3g}): nothing to localise"
            overlays.append(((base * 255).astype(np.uint8), note))
            continue
        mode = "nearest" if min(height, width) <= 2 else "bilinear"
        heat = F.interpolate(heat[None, None], size=base.shape[:2], mode=mode,
                             **({} if mode == "nearest" else {"align_corners": False}))[0, 0]  # fmt: skip
        heat = ((heat - low) / (high - low)).clamp(0, 1).numpy()
        blended = 0.55 * base + 0.45 * colormaps["inferno"](heat)[..., :3]
        overlays.append(((blended * 255).astype(np.uint8), caption))
    return overlays


@torch.inference_mode()
def layer_similarities(
    loaded: LoadedModel, first: torch.Tensor, second: torch.Tensor
) -> dict[str, float]:
    """Cosine similarity of the two images' pooled features at layer1..layer4."""
    pair = torch.cat([first, second])
    features = loaded.encoder.layer_features(pair, layers=list(LAYERS), pooled=True)
    return {name: float(F.cosine_similarity(f[:1], f[1:]).item()) for name, f in features.items()}


@torch.inference_mode()
def classify(loaded: LoadedModel, pixels: torch.Tensor) -> dict[str, float]:
    if loaded.classifier is None:
        raise ValueError(
            "This model is an encoder without a classification head. Make a classifier with "
            "`mocoim-finetune --models ENCODER --modes full --output-dir runs/fine-tune "
            "--save-model runs/classifier`, then serve it with `python app.py --model runs/classifier`."
        )
    logits = loaded.classifier(pixels).logits[0]
    multi_label = loaded.classifier.config.problem_type == "multi_label_classification"
    probabilities = logits.sigmoid() if multi_label else logits.softmax(0)
    return {loaded.classifier.config.id2label[i]: float(p) for i, p in enumerate(probabilities)}


@dataclass
class Gallery:
    """Images embedded once per model (cached on disk): the embedded dataset's test split, or
    the images of a folder, glob or CSV/TSV file (`app.py --gallery`)."""

    dataset: ImageDataset
    rows: torch.Tensor  # (n,): the dataset indices of the images that could be read
    mean: torch.Tensor  # (d,): subtracted first, as ReLU features all point the same way
    embeddings: torch.Tensor  # (n, d), centred and L2-normalised

    def nearest(self, query: np.ndarray, k: int = 8) -> list[tuple[np.ndarray, str]]:
        similarity = self.embeddings @ F.normalize(torch.as_tensor(query) - self.mean, dim=0)
        best = similarity.topk(min(k, len(similarity)))
        results = []
        for score, index in zip(best.values.tolist(), best.indices.tolist(), strict=True):
            row = int(self.rows[index])
            sample = self.dataset[row]
            results.append((displayable(sample["image"]),
                            f"{self._caption(row, sample)} · cosine distance {max(1 - score, 0.0):.3f}"))  # fmt: skip
        return results

    def _caption(self, row: int, sample: dict) -> str:
        if self.dataset.labelled and sample["labels"].ndim == 0:
            return self.dataset.label_names[int(sample["labels"])]
        source = self.dataset.images[int(self.dataset.rows[row])]
        return Path(source).name if isinstance(source, str | os.PathLike) else f"image {row}"


def displayable(image) -> np.ndarray:
    """An image as 8-bit pixels for the browser (16-bit and DICOM intensities scaled down)."""
    array = pil_to_array(image) if isinstance(image, PIL.Image.Image) else np.asarray(image)
    return (scale_intensity(array, "dtype") * 255).round().astype(np.uint8)


@functools.lru_cache(maxsize=4)
def gallery_images(path: str | None = None) -> ImageDataset:
    """The images a gallery shows: those of `path` (a folder, glob or CSV/TSV file, every split),
    unreadable ones skipped; without a path, the embedded dataset's test split."""
    if path is None:
        return default_dataset()["test"]
    kind = kind_for(None, path)
    splits = open_dataset(kind, path, on_bad_image="skip")
    print(summarize(splits, kind, path))
    dataset = concatenate(list(splits.values()))
    dataset.transform = None
    return dataset


@functools.lru_cache(maxsize=4)
def gallery(source: str, path: str | None = None) -> Gallery:
    """The gallery of `path` (default: the embedded test split) embedded by the model `source`."""
    loaded = load_model(source)
    images = gallery_images(path)
    features = extract_features(loaded.encoder, images, processor=loaded.processor, num_workers=0,
                                cache_dir=CACHE_DIR / "gallery", progress=False)["layer4"]  # fmt: skip
    features = torch.from_numpy(features)
    readable = torch.isfinite(features).all(dim=1)
    features = features[readable]
    mean = features.mean(0)
    return Gallery(images, readable.nonzero()[:, 0], mean, F.normalize(features - mean, dim=1))
