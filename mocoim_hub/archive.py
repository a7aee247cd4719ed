"""Embed an archive of images into shards on disk: memory bounded by one shard whatever the
archive's size, decoding in worker processes overlapped with the forward, resumable after a
kill, and shared between the ranks of `torchrun`.

An output folder holds:

    embeddings.json          what was embedded (model, processor, layers, image list, shard size)
    index.csv                one line per image in input order: path, row, status, reason
    shards/00000.layer4.npy  rows of shard 0 for layer4, float32 (memory-mappable)
    shards/00000.csv         shard 0's lines of the index, written last: the shard is complete

Row `i` of a layer is image `i`; an image that could not be read (with `on_bad_image="skip"`)
keeps its row, filled with NaN, and its reason in the index.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .configuration_mocoim import STAGE_NAMES
from .data.adapters import SKIP_HINT, BadImagePolicy
from .data.loading import worker_count
from .features import model_fingerprint
from .image_processing_mocoim import MocoImImageProcessor
from .imaging import ImageLike
from .modeling_mocoim import LayerSpec, MocoImModel, resolve_layers
from .precision import autocast

__all__ = ["embed_archive", "Embeddings", "decoding_loader"]

Precision = Literal["fp32", "bf16", "fp16"]
MANIFEST = "embeddings.json"
INDEX = "index.csv"
INDEX_COLUMNS = ("path", "row", "status", "reason")
# Fields of the manifest that must match for --resume to continue a folder's shards.
RESUME_FIELDS = ("model", "processor", "layers", "shard_size", "images", "image_list_sha256")


@dataclass(frozen=True)
class Shard:
    number: int
    start: int
    stop: int

    def file(self, folder: Path, layer: str) -> Path:
        return folder / "shards" / f"{self.number:05d}.{layer}.npy"

    def index_file(self, folder: Path) -> Path:
        return folder / "shards" / f"{self.number:05d}.csv"


class Embeddings:
    """An output folder of `embed_archive`, read back: `paths`, `status`, `reasons` (one per
    image, in input order) and each layer's rows, per shard (memory-mapped) or whole."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        if not (self.folder / INDEX).is_file():
            raise FileNotFoundError(
                f"{self.folder} holds no finished embeddings ({INDEX} is missing): run "
                "mocoim-extract (or embed_archive) into it, with --resume to finish a stopped run."
            )
        self.manifest = json.loads((self.folder / MANIFEST).read_text())
        self.layers: list[str] = self.manifest["layers"]
        with open(self.folder / INDEX, newline="", encoding="utf-8") as file:
            rows = list(csv.DictReader(file))
        self.paths = [row["path"] for row in rows]
        self.status = [row["status"] for row in rows]
        self.reasons = [row["reason"] for row in rows]
        # mask of the images that were embedded (the others have NaN rows)
        self.ok = np.array([status == "ok" for status in self.status], dtype=bool)

    def __len__(self) -> int:
        return len(self.paths)

    def shards(self, layer: str = "layer4") -> Iterator[np.ndarray]:
        """Each shard's `(rows, channels)` array of `layer`, memory-mapped, in order."""
        if layer not in self.layers:
            raise KeyError(f"No layer {layer!r} in {self.folder}; it holds {self.layers}.")
        for shard in shards_of(len(self), self.manifest["shard_size"]):
            yield np.load(shard.file(self.folder, layer), mmap_mode="r")

    def layer(self, layer: str = "layer4") -> np.ndarray:
        """All rows of `layer` as one in-memory array `(images, channels)`."""
        return np.concatenate(list(self.shards(layer)))


def shards_of(count: int, shard_size: int) -> list[Shard]:
    return [
        Shard(number, start, min(count, start + shard_size))
        for number, start in enumerate(range(0, count, shard_size))
    ]


class _Decoded(Dataset):
    """Image `i` as `(i, pixel_values or None, reason)`: decoding and preprocessing run in the
    loader's workers, and a bad file becomes a reason instead of an exception."""

    def __init__(self, images: Sequence[ImageLike], processor: MocoImImageProcessor):
        self.images, self.processor = images, processor

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor | None, str]:
        try:
            return index, self.processor(self.images[index])["pixel_values"][0], ""
        except (ValueError, OSError) as error:
            return index, None, str(error)


def _collate(items: list[tuple[int, torch.Tensor | None, str]]) -> dict[str, Any]:
    good = [(index, pixels) for index, pixels, _ in items if pixels is not None]
    return {
        "index": [index for index, _ in good],
        "pixels": torch.stack([pixels for _, pixels in good]) if good else None,
        "bad": [(index, reason) for index, pixels, reason in items if pixels is None],
    }


def default_device() -> torch.device:
    """The GPU of this rank when there is one (`LOCAL_RANK` under torchrun), else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


@torch.inference_mode()
def embed_archive(
    model: MocoImModel,
    processor: MocoImImageProcessor,
    images: Sequence[str | os.PathLike] | Mapping[str, ImageLike],
    output_dir: str | os.PathLike,
    layers: LayerSpec | Sequence[LayerSpec] = "layer4",
    batch_size: int = 64,
    num_workers: int | None = None,
    device: str | torch.device | None = None,
    precision: Precision = "fp32",
    shard_size: int = 4096,
    resume: bool = False,
    on_bad_image: BadImagePolicy = "error",
    progress: bool = True,
    source: str | None = None,
    compile: bool = False,
) -> Embeddings:
    """Embed image files (any the processor reads, DICOM included) into `output_dir` as shards.

    Args:
        images: file paths, or images (anything the processor takes) by the name the index
            gives them.
        layers: stages whose global-average-pooled features are kept.
        num_workers: decoding processes (default: the CPU count, at most 8; 0 decodes inline).
        device: where the forward runs (the model is moved there); default the GPU if any.
        precision: `"fp32"`, or `"bf16"`/`"fp16"` by autocast; features are stored as float32.
        shard_size: images per shard, the unit of memory, of resuming and of sharing out ranks.
        resume: continue the folder's run after its last complete shard (a folder that holds no
            run yet is started).
        on_bad_image: `"error"` stops at the first unreadable file (finished shards stay);
            `"skip"` keeps a NaN row and the reason in the index.
        source: how the model was named, recorded in `embeddings.json`.
        compile: run the encoder through `torch.compile` (pays off on large archives).

    Under `torchrun` (an initialised process group), rank `r` embeds shards `r, r + world, ...`
    and rank 0 writes the merged index once all are done.
    """
    sources = list(images.values()) if isinstance(images, Mapping) else list(images)
    paths = [str(path) for path in images]
    if not paths:
        raise ValueError("Expected at least one image to embed but got none.")
    if batch_size < 1 or shard_size < 1:
        raise ValueError(
            f"batch_size and shard_size must be at least 1, got {batch_size}, {shard_size}."
        )
    if on_bad_image not in ("error", "skip"):
        raise ValueError(f"on_bad_image must be 'error' or 'skip', got {on_bad_image!r}.")
    device = torch.device(device) if device is not None else default_device()
    forward_precision = autocast(precision, device)
    names = [STAGE_NAMES[index] for index in resolve_layers(layers)]
    folder = Path(output_dir)
    manifest = _manifest(model, processor, names, shard_size, paths, source)
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    if rank == 0:
        _prepare_folder(folder, manifest, resume)
    _barrier(world)
    shards = shards_of(len(paths), shard_size)
    pending = [s for s in shards[rank::world] if not s.index_file(folder).exists()]
    model.to(device).eval()
    layer_features = torch.compile(model.layer_features) if compile else model.layer_features
    loader = decoding_loader(sources, processor, pending, batch_size, num_workers, device)
    batches = iter(loader)
    bar = tqdm(total=sum(s.stop - s.start for s in pending), desc="embedding", unit="img",
               disable=not progress or not pending)  # fmt: skip
    for shard in pending:
        rows = {n: np.full((shard.stop - shard.start, w), np.nan, np.float32)
                for n, w in zip(names, manifest["widths"], strict=True)}  # fmt: skip
        reasons: dict[int, str] = {}
        for _ in range(_batch_count(shard, batch_size)):
            batch = next(batches)
            for index, reason in batch["bad"]:
                if on_bad_image == "error":
                    raise ValueError(
                        f"Bad image {paths[index]} ({reason}). Fix or remove it, or {SKIP_HINT}."
                    )
                reasons[index] = reason
            if batch["pixels"] is not None:
                pixels = batch["pixels"].to(device, non_blocking=True)
                with forward_precision:
                    features = layer_features(pixels, layers=names)
                local = np.asarray(batch["index"]) - shard.start
                for name, value in features.items():
                    rows[name][local] = value.float().cpu().numpy()
            bar.update(len(batch["index"]) + len(batch["bad"]))
        _write_shard(folder, shard, rows, paths, reasons)
    bar.close()
    _barrier(world)
    if rank == 0:
        _merge_index(folder, shards)
    _barrier(world)
    return Embeddings(folder)


def _manifest(model, processor, names, shard_size, paths, source) -> dict[str, Any]:
    """What identifies a run, as `embeddings.json` holds it (`--resume` compares it)."""
    manifest = {
        "source": source,
        "model": model_fingerprint(model),
        "processor": processor.to_dict(),
        "layers": names,
        "widths": [model.config.hidden_sizes[STAGE_NAMES.index(name)] for name in names],
        "shard_size": shard_size,
        "images": len(paths),
        "image_list_sha256": hashlib.sha256("\n".join(paths).encode()).hexdigest(),
    }
    return json.loads(json.dumps(manifest))  # as it reads back from the file


def _batch_count(shard: Shard, batch_size: int) -> int:
    return -(-(shard.stop - shard.start) // batch_size)


def decoding_loader(
    images: Sequence[ImageLike],
    processor: MocoImImageProcessor,
    shards: Sequence[Shard],
    batch_size: int,
    num_workers: int | None = None,
    device: str | torch.device = "cpu",
) -> DataLoader:
    """Batches of `shards` (never crossing one, in order) as `{"index", "pixels", "bad"}`,
    decoded ahead by the workers."""
    batches = [
        list(range(start, min(start + batch_size, shard.stop)))
        for shard in shards
        for start in range(shard.start, shard.stop, batch_size)
    ]
    workers = worker_count(num_workers)
    return DataLoader(
        _Decoded(images, processor),
        batch_sampler=batches,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=torch.device(device).type == "cuda",
        prefetch_factor=4 if workers > 0 else None,
    )


def _prepare_folder(folder: Path, manifest: dict[str, Any], resume: bool) -> None:
    """Start `folder` (new or empty) or, with `resume`, check that it holds the same run."""
    manifest_file = folder / MANIFEST
    if manifest_file.exists():
        if not resume:
            raise FileExistsError(
                f"{folder} already holds embeddings ({MANIFEST}); pass --resume (resume=True) to "
                "finish that run, or choose another output folder."
            )
        saved = json.loads(manifest_file.read_text())
        changed = [field for field in RESUME_FIELDS if saved.get(field) != manifest[field]]
        if changed:
            raise ValueError(
                f"Cannot resume {folder}: its run differs in {', '.join(changed)} (model weights, "
                "processor settings, layers, shard size or the list of images). Resume with the "
                "same model and images, or choose another output folder."
            )
        return
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(
            f"{folder} holds files this program did not write ({', '.join(sorted(p.name for p in folder.iterdir())[:5])}"
            "); choose a new or empty output folder."
        )
    (folder / "shards").mkdir(parents=True, exist_ok=True)
    _write_atomically(manifest_file, json.dumps(manifest, indent=2).encode())


def _write_shard(folder, shard: Shard, rows: dict[str, np.ndarray], paths, reasons) -> None:
    """The shard's arrays, then its index lines: a shard with an index file is complete."""
    for name, array in rows.items():
        _write_atomically(shard.file(folder, name), array)
    lines = io.StringIO(newline="")
    csv.writer(lines).writerows(
        [paths[i], i, "skipped" if i in reasons else "ok", reasons.get(i, "")]
        for i in range(shard.start, shard.stop)
    )
    _write_atomically(shard.index_file(folder), lines.getvalue().encode())


def _write_atomically(path: Path, content: bytes | np.ndarray) -> None:
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as file:
        if isinstance(content, np.ndarray):
            np.save(file, content)
        else:
            file.write(content)
    partial.replace(path)


def _merge_index(folder: Path, shards: list[Shard]) -> None:
    partial = folder / (INDEX + ".partial")
    with open(partial, "wb") as merged:
        merged.write((",".join(INDEX_COLUMNS) + "\r\n").encode())
        for shard in shards:  # bytes as written, so quoted fields stay as they are
            merged.write(shard.index_file(folder).read_bytes())
    partial.replace(folder / INDEX)


def _barrier(world: int) -> None:
    if world > 1:
        dist.barrier()
