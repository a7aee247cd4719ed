"""Dataset adapters: every source yields the same samples, `{"image", "labels", "patient_id"}`.

- `image_folder(root)`: `root/<class>/<image>` (via `datasets`' imagefolder builder).
- `hf_dataset(name_or_dir, image_column=, label_column=)`: a Hub dataset id, a `save_to_disk`
  folder, or a local data folder `datasets.load_dataset` understands.
- `nih_chestxray14(root)`: NIH ChestX-ray14: `Data_Entry_2017*.csv` + image folders; official
  `train_val_list.txt`/`test_list.txt` when present, else a patient-disjoint 70/10/20 split.
- `idc_histopathology(root)`: breast IDC patches, `<patient>/<0|1>/*_class<0|1>.png`.
- `diabetic_retinopathy(csv, images)`: `image,level` CSV; binary "referable" (level >= 2) or
  the 5 grades.

Each returns `{split: ImageDataset}`. Images are decoded lazily with `mocoim_hub.imaging`
(16-bit kept, DICOM windowed). Files that are missing or empty are found when the dataset is
built; files that fail to decode are found when read. `on_bad_image="error"` raises at once,
naming the file; `"skip"` drops them, counts them and reports the first few paths.
"""

from __future__ import annotations

import csv
import gzip
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from ..imaging import load_image
from .default import load_default_dataset, require_datasets
from .splits import patient_disjoint_split

logger = logging.getLogger(__name__)

NIH_FINDINGS = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia",
)  # fmt: skip
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm", ".dicom")
SPLIT_FRACTIONS = (0.7, 0.1, 0.2)
BadImagePolicy = Literal["error", "skip"]
SKIP_HINT = "pass on_bad_image='skip'"  # commands name their own flag in its place
ProblemType = Literal["single_label_classification", "multi_label_classification"]


@dataclass
class BadImages:
    """Images that could not be used, with the first few reasons kept for the report."""

    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, where: str, reason: str) -> None:
        self.count += 1
        if len(self.examples) < 5:
            self.examples.append(f"{where}: {reason}")

    def __str__(self) -> str:
        return (
            f"{self.count} bad image(s), e.g. " + "; ".join(self.examples) if self.count else "none"
        )


class ImageDataset(torch.utils.data.Dataset):
    """Images (file paths or decoded images) with labels and optional patient ids.

    `dataset[i]` is `{"image": transform(image), "labels": ..., "patient_id": ...}`; with
    `on_bad_image="skip"` an undecodable image gives `None`, which the loaders of
    `mocoim_hub.data.loading` drop.
    Labels are class indices `(n,)` or a multi-hot matrix `(n, num_labels)`; unlabelled images
    (`labels=None`, enough for pretraining) get the label -1 and no label names.
    """

    def __init__(
        self,
        images: Sequence[Any],
        labels: np.ndarray | None,
        label_names: Sequence[str],
        patient_ids: Sequence[str] | None = None,
        transform: Callable | None = None,
        on_bad_image: BadImagePolicy = "error",
        rows: np.ndarray | None = None,
    ):
        if on_bad_image not in ("error", "skip"):
            raise ValueError(f"on_bad_image must be 'error' or 'skip', got {on_bad_image!r}.")
        # `images` may be a lazy column (e.g. of a datasets.Dataset): it is indexed, never copied.
        self.images = images
        self.rows = np.arange(len(images)) if rows is None else np.asarray(rows, dtype=np.int64)
        if len(self.rows) == 0:
            raise ValueError("The dataset is empty: no images were found.")
        if labels is None:
            labels, label_names = np.full(len(self.rows), -1, dtype=np.int64), []
        if len(labels) != len(self.rows) or (
            patient_ids is not None and len(patient_ids) != len(self.rows)
        ):
            raise ValueError(
                f"Expected one label (and patient id) per image: {len(self.rows)} images, "
                f"{len(labels)} labels, {None if patient_ids is None else len(patient_ids)} patient ids."
            )
        self.labels = np.asarray(labels)
        self.label_names = list(label_names)
        self.patient_ids = None if patient_ids is None else np.asarray(patient_ids, dtype=str)
        self.transform = transform
        self.on_bad_image = on_bad_image
        self.bad_images = BadImages()

    @property
    def labelled(self) -> bool:
        return bool(self.label_names)

    @property
    def problem_type(self) -> ProblemType:
        return (
            "multi_label_classification" if self.labels.ndim == 2 else "single_label_classification"
        )

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        source = self.images[int(self.rows[index])]
        if isinstance(source, dict):  # an undecoded datasets Image: {"bytes", "path"}
            source = source.get("bytes") or source.get("path")
        try:
            if source is None:
                raise ValueError("empty image: it has neither bytes nor a path")
            image = load_image(source) if isinstance(source, (str, os.PathLike, bytes)) else source
            if self.transform is not None:
                image = self.transform(image)
        except (ValueError, OSError) as err:
            where = source if isinstance(source, (str, os.PathLike)) else f"image {index}"
            if self.on_bad_image == "error":
                raise ValueError(
                    f"Bad image {where} ({err}). Fix or remove it, or {SKIP_HINT}."
                ) from err
            self.bad_images.add(str(where), str(err))
            logger.warning("skipping bad image %s (%s)", where, err)
            return None
        labels = self.labels[index]
        return {
            "image": image,
            "labels": torch.as_tensor(labels, dtype=torch.float32 if labels.ndim else torch.long),
            "patient_id": None if self.patient_ids is None else str(self.patient_ids[index]),
        }

    def subset(self, indices: Sequence[int]) -> ImageDataset:
        """The same dataset restricted to `indices` (e.g. a few-label subset)."""
        indices = np.asarray(indices, dtype=np.int64)
        return ImageDataset(
            self.images,
            self.labels[indices],
            self.label_names,
            None if self.patient_ids is None else self.patient_ids[indices],
            self.transform,
            self.on_bad_image,
            rows=self.rows[indices],
        )


# --- sources -------------------------------------------------------------------------------------


def _check_files(paths: Sequence[Path], on_bad_image: BadImagePolicy) -> np.ndarray:
    """Mask of usable files; missing and zero-byte files are errors or skipped with a report."""
    bad = BadImages()
    keep = np.ones(len(paths), dtype=bool)
    for i, path in enumerate(paths):
        reason = (
            "missing" if not path.is_file() else "empty file" if path.stat().st_size == 0 else None
        )
        if reason:
            keep[i] = False
            bad.add(str(path), reason)
    if bad.count and on_bad_image == "error":
        raise ValueError(f"{bad}. Fix them, or {SKIP_HINT}.")
    if bad.count:
        logger.warning("skipping %s", bad)
    return keep


def _select(items: list, keep: np.ndarray) -> list:
    return [item for item, kept in zip(items, keep, strict=True) if kept]


def _split_by_patient(
    images: list[Path], labels: np.ndarray, label_names, patients: np.ndarray, seed: int, **kwargs
) -> dict[str, ImageDataset]:
    parts = patient_disjoint_split(patients, SPLIT_FRACTIONS, seed=seed)
    if any(len(part) == 0 for part in parts):
        raise ValueError(
            f"{len(set(patients))} patient(s) are too few for a patient-disjoint "
            f"{'/'.join(str(round(100 * f)) for f in SPLIT_FRACTIONS)} train/validation/test split."
        )
    dataset = ImageDataset(images, labels, label_names, patients, **kwargs)
    return {
        name: dataset.subset(part)
        for name, part in zip(("train", "validation", "test"), parts, strict=True)
    }


def image_folder(root: str | Path, seed: int = 0, **kwargs) -> dict[str, ImageDataset]:
    """`root/<class>/<image>` (or `root/<split>/<class>/<image>`); classes are folder names.

    Without split folders, a random 70/10/20 split is made (each image its own "patient").
    """
    datasets = require_datasets()
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"No folder at {root}.")
    if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in root.rglob("*")):
        raise ValueError(
            f"No images under {root}; expected {root}/<class>/<image> with a suffix in "
            f"{', '.join(IMAGE_SUFFIXES)}."
        )
    loaded = datasets.load_dataset("imagefolder", data_dir=str(root))
    label_names = loaded[next(iter(loaded))].features["label"].names
    splits = {}
    for split, table in loaded.items():
        table = table.cast_column("image", datasets.Image(decode=False))
        paths = [Path(item["path"]) for item in table["image"]]
        keep = _check_files(paths, kwargs.get("on_bad_image", "error"))
        labels = np.asarray(table["label"])
        splits[split] = (_select(paths, keep), labels[keep])
    if set(splits) == {"train"}:
        paths, labels = splits["train"]
        return _split_by_patient(
            paths, labels, label_names, np.asarray([str(p) for p in paths]), seed, **kwargs
        )
    return {
        name: ImageDataset(p, y, label_names, **kwargs)
        for name, (p, y) in _rename_splits(splits).items()
    }


def hf_dataset(
    name_or_dir: str | Path | Any,
    image_column: str = "image",
    label_column: str | None = "label",
    patient_column: str | None = None,
    **kwargs,
) -> dict[str, ImageDataset]:
    """A Hub dataset id, a `save_to_disk` folder, a local folder of data files, or a loaded
    `datasets.Dataset` / `DatasetDict`; `label_column=None` for unlabelled images."""
    datasets = require_datasets()
    loaded = name_or_dir
    if not isinstance(loaded, datasets.Dataset | datasets.DatasetDict):
        path = Path(name_or_dir)
        if path.is_dir() and (
            (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()
        ):
            loaded = datasets.load_from_disk(str(path))
        else:
            loaded = datasets.load_dataset(str(name_or_dir))
    if isinstance(loaded, datasets.Dataset):
        loaded = datasets.DatasetDict(train=loaded)
    splits = {}
    for split, table in loaded.items():
        missing = [
            c
            for c in (image_column, label_column, patient_column)
            if c and c not in table.column_names
        ]
        if missing:
            raise ValueError(
                f"Split {split!r} has no column(s) {missing}; its columns are {table.column_names}. "
                "Pass image_column=, label_column= (and patient_column=) to choose them."
            )
        labels, label_names = _labels_of(table, label_column) if label_column else (None, [])
        patients = table[patient_column] if patient_column else None
        images = _undecoded(table, image_column)
        splits[split] = ImageDataset(images, labels, label_names, patients, **kwargs)
    return _rename_splits(splits)


def torch_dataset(dataset: torch.utils.data.Dataset, **kwargs) -> dict[str, ImageDataset]:
    """Unlabelled images from a map-style torch `Dataset` whose items are images (PIL, arrays,
    tensors, file paths), `(image, ...)` tuples or `{"image": ...}` dicts, read lazily."""
    if not hasattr(dataset, "__len__"):
        raise TypeError(
            f"Expected a map-style torch Dataset with a length, got {type(dataset).__name__}."
        )
    return {"train": ImageDataset(_ImagesOf(dataset), None, [], **kwargs)}


class _ImagesOf(Sequence):
    """The image of each item of a torch dataset, read when indexed."""

    def __init__(self, dataset: torch.utils.data.Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        item = self.dataset[index]
        if isinstance(item, dict):
            return item["image"]
        return item[0] if isinstance(item, tuple | list) else item


def nih_chestxray14(root: str | Path, seed: int = 0, **kwargs) -> dict[str, ImageDataset]:
    """NIH ChestX-ray14 with its 14 findings as a multi-hot matrix ("No Finding" = all zeros)."""
    root = Path(root)
    entries = sorted(root.glob("Data_Entry_2017*.csv*"))
    if not entries:
        raise FileNotFoundError(f"No Data_Entry_2017*.csv in {root}; point root at the NIH folder.")
    rows = _read_csv(entries[0], required=("Image Index", "Finding Labels", "Patient ID"))
    found = {p.name: p for p in root.rglob("*.png")}
    names = [row["Image Index"] for row in rows]
    paths = [found.get(name, root / "images" / name) for name in names]
    labels = np.zeros((len(rows), len(NIH_FINDINGS)), dtype=np.int64)
    for i, row in enumerate(rows):
        for finding in row["Finding Labels"].split("|"):
            if finding in NIH_FINDINGS:
                labels[i, NIH_FINDINGS.index(finding)] = 1
    patients = np.asarray([row["Patient ID"] for row in rows])
    keep = _check_files(paths, kwargs.get("on_bad_image", "error"))
    paths, names = _select(paths, keep), _select(names, keep)
    labels, patients = labels[keep], patients[keep]
    official = root / "train_val_list.txt", root / "test_list.txt"
    if not all(p.is_file() for p in official):
        return _split_by_patient(paths, labels, NIH_FINDINGS, patients, seed, **kwargs)
    test_names = set(official[1].read_text().split())
    dataset = ImageDataset(paths, labels, NIH_FINDINGS, patients, **kwargs)
    test = np.flatnonzero([n in test_names for n in names])
    train_val = np.setdiff1d(np.arange(len(names)), test)
    # the official lists have no validation split: 1/8 of train_val patients, i.e. 70/10 overall
    train, validation = patient_disjoint_split(patients[train_val], (0.875, 0.125), seed=seed)
    return {
        "train": dataset.subset(train_val[train]),
        "validation": dataset.subset(train_val[validation]),
        "test": dataset.subset(test),
    }


def idc_histopathology(root: str | Path, seed: int = 0, **kwargs) -> dict[str, ImageDataset]:
    """Breast histopathology IDC patches, `<patient>/<0|1>/*_class<0|1>.png`, split by patient."""
    root = Path(root)
    paths = sorted(p for p in root.glob("*/[01]/*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"No <patient>/<0|1>/*.png patches under {root}.")
    paths = _select(paths, _check_files(paths, kwargs.get("on_bad_image", "error")))
    labels = np.asarray([int(p.parent.name) for p in paths])
    patients = np.asarray([p.parent.parent.name for p in paths])
    return _split_by_patient(paths, labels, ("no IDC", "IDC"), patients, seed, **kwargs)


def diabetic_retinopathy(
    csv_path: str | Path,
    image_dir: str | Path,
    target: Literal["referable", "grade"] = "referable",
    seed: int = 0,
    **kwargs,
) -> dict[str, ImageDataset]:
    """Kaggle-style `image,level` CSV; images `<image>.<ext>`; patients from `<id>_left|right`."""
    if target not in ("referable", "grade"):
        raise ValueError(f"target must be 'referable' or 'grade', got {target!r}.")
    rows = _read_csv(Path(csv_path), required=("image", "level"))
    image_dir = Path(image_dir)
    by_stem = {p.stem: p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    paths = [by_stem.get(row["image"], image_dir / f"{row['image']}.jpeg") for row in rows]
    levels = np.asarray([int(row["level"]) for row in rows])
    if levels.min() < 0 or levels.max() > 4:
        raise ValueError(f"DR levels must be 0..4, found {levels.min()}..{levels.max()}.")
    keep = _check_files(paths, kwargs.get("on_bad_image", "error"))
    paths, levels = _select(paths, keep), levels[keep]
    patients = np.asarray([p.stem.rsplit("_", 1)[0] for p in paths])
    if target == "referable":
        return _split_by_patient(
            paths,
            (levels >= 2).astype(np.int64),
            ("non-referable", "referable"),
            patients,
            seed,
            **kwargs,
        )
    grades = ("no DR", "mild", "moderate", "severe", "proliferative")
    return _split_by_patient(paths, levels, grades, patients, seed, **kwargs)


def _undecoded(table, column: str):
    """The image column left as bytes/paths, so that decoding goes through `load_image` (16-bit
    kept, DICOM read, pixel limit enforced, errors handled by the bad-image policy)."""
    datasets = require_datasets()
    if isinstance(table.features[column], datasets.Image):
        table = table.cast_column(column, datasets.Image(decode=False))
    return table[column]


def _labels_of(table, column: str) -> tuple[np.ndarray, list[str]]:
    """Class indices from a ClassLabel/int column, or a multi-hot matrix from a list-of-ClassLabel
    column (or from lists of 0/1 flags)."""
    feature = table.features[column]
    inner = getattr(feature, "feature", None)
    values = table[column]
    if inner is not None and hasattr(inner, "names"):  # lists of class indices -> multi-hot
        labels = np.zeros((len(values), len(inner.names)), dtype=np.int64)
        for row, indices in enumerate(values):
            labels[row, list(indices)] = 1
        return labels, list(inner.names)
    labels = np.asarray(values)
    names = getattr(feature, "names", None)
    if names is None:
        count = labels.shape[1] if labels.ndim == 2 else int(labels.max()) + 1
        names = [str(i) for i in range(count)]
    return labels, list(names)


def _read_csv(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = list(rows[0]) if rows else []
    missing = [c for c in required if c not in columns]
    if missing:
        raise ValueError(f"{path} lacks column(s) {missing}; it has {columns}.")
    return rows


def _rename_splits(splits: dict[str, Any]) -> dict[str, Any]:
    aliases = {"val": "validation", "valid": "validation", "eval": "validation"}
    return {aliases.get(name, name): value for name, value in splits.items()}


def default_dataset(**kwargs) -> dict[str, ImageDataset]:
    """The embedded Fashion-MNIST subset (see `mocoim_hub.data.default`) as adapters yield it."""
    splits = load_default_dataset()
    names = splits["train"].features["label"].names
    return {
        split: ImageDataset(_undecoded(table, "image"), np.asarray(table["label"]), names, **kwargs)
        for split, table in splits.items()
    }


__all__ = [
    "ImageDataset",
    "NIH_FINDINGS",
    "default_dataset",
    "diabetic_retinopathy",
    "hf_dataset",
    "idc_histopathology",
    "image_folder",
    "nih_chestxray14",
    "torch_dataset",
]
