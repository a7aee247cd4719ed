"""Dataset adapters: every source yields the same samples, `{"image", "labels", "patient_id"}`.

- `images(location)`: every image under a folder (recursively, DICOM included) or a glob,
  unlabelled.
- `image_folder(root)`: `root/<class>/...` (or `root/<split>/<class>/...`), DICOM included.
- `image_table(csv, image_column=, label_column=, patient_column=, label_separator=, labels=)`:
  the images a CSV/TSV file lists, labels and patients from the columns named.
- `hf_dataset(name_or_dir, image_column=, label_column=)`: a Hub dataset id, a `save_to_disk`
  folder, or a local data folder `datasets.load_dataset` understands.
- `nih_chestxray14(root)`: NIH ChestX-ray14: `Data_Entry_2017*.csv` as an image table; official
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
from .files import (
    IMAGE_SUFFIXES,
    Listing,
    find_images,
    image_kind,
    patient_ids,
    read_image_table,
    read_rows,
    split_of,
)
from .splits import patient_disjoint_split

logger = logging.getLogger(__name__)

NIH_FINDINGS = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia",
)  # fmt: skip
"""The 14 findings of NIH ChestX-ray14, in the order of its label columns."""
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
        listing: Listing | None = None,
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
        self.listing = listing  # where the files came from, what was left out (shared by subsets)

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
            listing=self.listing,
        )


def concatenate(datasets: Sequence[ImageDataset]) -> ImageDataset:
    """The images of several datasets (e.g. splits) as one, read lazily; labels and patient ids
    are kept when every part has them alike."""
    first = datasets[0]
    if all(d.images is first.images for d in datasets):  # subsets of one dataset: one row list
        images, rows = first.images, np.concatenate([d.rows for d in datasets])
    else:
        images, rows = _Chained([_Rows(d) for d in datasets]), None
    alike = all(
        d.label_names == first.label_names and d.labels.ndim == first.labels.ndim for d in datasets
    )
    labelled = first.labelled and alike
    patients = None
    if all(d.patient_ids is not None for d in datasets):
        patients = np.concatenate([d.patient_ids for d in datasets])
    return ImageDataset(
        images, np.concatenate([d.labels for d in datasets]) if labelled else None,
        first.label_names if labelled else [], patients, first.transform, first.on_bad_image,
        rows=rows, listing=first.listing,
    )  # fmt: skip


class _Rows(Sequence):
    """The images of a dataset's rows, in order, read when indexed."""

    def __init__(self, dataset: ImageDataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset.rows)

    def __getitem__(self, index: int) -> Any:
        return self.dataset.images[int(self.dataset.rows[index])]


class _Chained(Sequence):
    """Several sequences read as one."""

    def __init__(self, parts: Sequence[Sequence]):
        self.parts = list(parts)
        self.starts = np.cumsum([0, *(len(p) for p in self.parts)])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, index: int) -> Any:
        part = int(np.searchsorted(self.starts, index, side="right")) - 1
        return self.parts[part][index - int(self.starts[part])]


# --- sources -------------------------------------------------------------------------------------


def _check_files(
    paths: Sequence[Path], on_bad_image: BadImagePolicy, listing: Listing
) -> np.ndarray:
    """Mask of usable files; missing and zero-byte files are errors, or skipped and recorded in
    `listing`."""
    bad = BadImages()
    keep = np.ones(len(paths), dtype=bool)
    for i, path in enumerate(paths):
        reason = (
            "missing" if not path.is_file() else "empty file" if path.stat().st_size == 0 else None
        )
        if reason:
            keep[i] = False
            bad.add(str(path), reason)
            listing.skipped.append(f"{path}: {reason}")
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
    splits = {
        name: dataset.subset(part)
        for name, part in zip(("train", "validation", "test"), parts, strict=True)
    }
    return _without_absent_labels(splits)


def _without_absent_labels(splits: dict[str, ImageDataset]) -> dict[str, ImageDataset]:
    """Multi-label splits without the labels that have no positive in some split (nothing could
    be learned or measured for them), each named in a warning and in the listing."""
    first = next(iter(splits.values()))
    if not first.labelled or first.labels.ndim != 2:
        return splits
    present = np.all([split.labels.sum(axis=0) > 0 for split in splits.values()], axis=0)
    if present.all():
        return splits
    dropped = [name for name, kept in zip(first.label_names, present, strict=True) if not kept]
    logger.warning(
        "dropping label(s) %s: no positive example in every split (%s); choose labels with "
        "--labels (labels= in Python)", ", ".join(dropped), ", ".join(splits),
    )  # fmt: skip
    if first.listing is not None:
        first.listing.dropped_labels = dropped
    for split in splits.values():
        split.labels = split.labels[:, present]
        split.label_names = [n for n, kept in zip(split.label_names, present, strict=True) if kept]
    return splits


def images(location: str | Path, **kwargs) -> dict[str, ImageDataset]:
    """Every image under a folder (walked recursively) or matching a glob, unlabelled, all in
    the "train" split: what pretraining on your own images needs."""
    paths, listing = find_images(location)
    paths = _select(paths, _check_files(paths, kwargs.get("on_bad_image", "error"), listing))
    return {"train": ImageDataset(paths, None, [], listing=listing, **kwargs)}


def image_folder(root: str | Path, seed: int = 0, **kwargs) -> dict[str, ImageDataset]:
    """`root/<class>/...` (or `root/<split>/<class>/...`): the class is the first folder below
    the root (or below the split folder), images found at any depth under it, DICOM included.

    Without split folders, a seeded patient-disjoint 70/10/20 split is made; patients are the
    DICOM files' `PatientID`s (every other image is its own patient).
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"No folder at {root}.")
    paths, listing = find_images(root)
    paths = _select(paths, _check_files(paths, kwargs.get("on_bad_image", "error"), listing))
    split_names = [split_of(p, root) for p in paths]
    inner = [
        p.relative_to(root).parts[1 if s else 0 :] for p, s in zip(paths, split_names, strict=True)
    ]
    loose = [str(p) for p, parts in zip(paths, inner, strict=True) if len(parts) < 2]
    if loose:
        raise ValueError(
            f"{len(loose)} image(s) belong to no class folder, e.g. {loose[0]}; an image folder "
            f"is {root}/<class>/<image>. Read the folder unlabelled with --dataset images "
            "(dataset='images')."
        )
    label_names = sorted({parts[0] for parts in inner})
    labels = np.asarray([label_names.index(parts[0]) for parts in inner])
    if not any(split_names):
        return _split_by_patient(
            paths, labels, label_names, patient_ids(paths), seed, listing=listing, **kwargs
        )
    if not all(split_names):
        raise ValueError(
            f"{root} mixes split folders ({', '.join(sorted(set(filter(None, split_names))))}) "
            "with other folders; put every class folder inside a split folder, or none."
        )
    dataset = ImageDataset(
        paths, labels, label_names, patient_ids(paths), listing=listing, **kwargs
    )
    return {
        split: dataset.subset([i for i, s in enumerate(split_names) if s == split])
        for split in ("train", "validation", "test")
        if split in split_names
    }


def image_table(
    path: str | Path,
    image_column: str = "image",
    label_column: str | None = None,
    patient_column: str | None = None,
    label_separator: str | None = None,
    labels: Sequence[str] | None = None,
    seed: int = 0,
    **kwargs,
) -> dict[str, ImageDataset]:
    """The images a CSV/TSV file lists (see `mocoim_hub.data.files.read_image_table`).

    Unlabelled: every image in "train". Labelled: a seeded patient-disjoint 70/10/20 split
    (patients from `patient_column`, else DICOM `PatientID`s, else one per image); a label with
    no positive in some split is dropped with a warning naming it.
    """
    table = read_image_table(
        path, image_column, label_column, patient_column, label_separator, labels
    )
    keep = _check_files(table.paths, kwargs.get("on_bad_image", "error"), table.listing)
    paths = _select(table.paths, keep)
    table.listing.dicom = sum(image_kind(p) == "dicom" for p in paths)
    patients = table.patients[keep] if table.patients is not None else None
    if table.labels is None:
        dataset = ImageDataset(paths, None, [], patients, listing=table.listing, **kwargs)
        return {"train": dataset}
    if patients is None:
        patients = patient_ids(paths)
    return _split_by_patient(paths, table.labels[keep], table.label_names, patients, seed,
                             listing=table.listing, **kwargs)  # fmt: skip


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
    """NIH ChestX-ray14: its `Data_Entry_2017*.csv` read as any image table (`Finding Labels`
    split on `|`, the 14 findings as labels, so "No Finding" rows are all zeros), split by the
    official lists when present, else patient-disjoint 70/10/20."""
    root = Path(root).expanduser()
    entries = sorted(root.glob("Data_Entry_2017*.csv*"))
    if not entries:
        raise FileNotFoundError(f"No Data_Entry_2017*.csv in {root}; point root at the NIH folder.")
    official = root / "train_val_list.txt", root / "test_list.txt"
    columns = dict(image_column="Image Index", label_column="Finding Labels",
                   patient_column="Patient ID", label_separator="|", labels=NIH_FINDINGS)  # fmt: skip
    if not all(p.is_file() for p in official):
        return image_table(entries[0], seed=seed, **columns, **kwargs)
    table = read_image_table(entries[0], **columns)
    keep = _check_files(table.paths, kwargs.get("on_bad_image", "error"), table.listing)
    paths, patients = _select(table.paths, keep), table.patients[keep]
    test_names = set(official[1].read_text().split())
    dataset = ImageDataset(paths, table.labels[keep], NIH_FINDINGS, patients,
                           listing=table.listing, **kwargs)  # fmt: skip
    test = np.flatnonzero([p.name in test_names for p in paths])
    train_val = np.setdiff1d(np.arange(len(paths)), test)
    # the official lists have no validation split: 1/8 of train_val patients, i.e. 70/10 overall
    train, validation = patient_disjoint_split(patients[train_val], (0.875, 0.125), seed=seed)
    return _without_absent_labels({
        "train": dataset.subset(train_val[train]),
        "validation": dataset.subset(train_val[validation]),
        "test": dataset.subset(test),
    })  # fmt: skip


def idc_histopathology(root: str | Path, seed: int = 0, **kwargs) -> dict[str, ImageDataset]:
    """Breast histopathology IDC patches, `<patient>/<0|1>/*_class<0|1>.png`, split by patient."""
    root = Path(root)
    paths = sorted(p for p in root.glob("*/[01]/*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"No <patient>/<0|1>/*.png patches under {root}.")
    listing = Listing(str(root))
    paths = _select(paths, _check_files(paths, kwargs.get("on_bad_image", "error"), listing))
    labels = np.asarray([int(p.parent.name) for p in paths])
    patients = np.asarray([p.parent.parent.name for p in paths])
    return _split_by_patient(
        paths, labels, ("no IDC", "IDC"), patients, seed, listing=listing, **kwargs
    )


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
    rows = read_rows(Path(csv_path), required=("image", "level"))
    image_dir = Path(image_dir)
    by_stem = {p.stem: p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    paths = [by_stem.get(row["image"], image_dir / f"{row['image']}.jpeg") for row in rows]
    levels = np.asarray([int(row["level"]) for row in rows])
    if levels.min() < 0 or levels.max() > 4:
        raise ValueError(f"DR levels must be 0..4, found {levels.min()}..{levels.max()}.")
    listing = Listing(str(csv_path))
    keep = _check_files(paths, kwargs.get("on_bad_image", "error"), listing)
    paths, levels = _select(paths, keep), levels[keep]
    kwargs["listing"] = listing
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
    "image_table",
    "images",
    "nih_chestxray14",
    "torch_dataset",
]
