"""Your own images, named one way everywhere: a folder (walked recursively), a glob, or a CSV/TSV
file listing them.

- `find_images(location)` lists the image files of a folder tree or a glob: PNG/JPEG/TIFF/BMP by
  suffix, DICOM by suffix or, as archives often store it, without a suffix, recognised by the
  `DICM` marker at byte 128. Hidden files and folders are left out; other files are counted.
- `read_image_table(path, ...)` reads a CSV/TSV file: an image column (paths relative to the file's
  folder, or file names found anywhere below it), optional labels (one class per row, or several
  joined by a separator, e.g. NIH's `Effusion|Mass`) and optional patient ids.
- `class_folder_layout(root)` tells whether a folder is `root/<class>/<image>` (or
  `root/<split>/<class>/<image>`), so a command can infer how to read it.

What was found, left out and why travels with the datasets as a `Listing`, so every command can
print it before long work starts (`mocoim_hub.data.summary`).
"""

from __future__ import annotations

import csv
import glob
import gzip
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..imaging import DICOM_SUFFIXES, dicom_patient_id, is_dicom

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", *DICOM_SUFFIXES)
TABLE_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
SPLIT_FOLDERS = {"train": "train", "validation": "validation", "val": "validation",
                 "valid": "validation", "test": "test"}  # fmt: skip
GLOB_CHARACTERS = "*?["
COLUMNS_HINT = (
    " Name yours with --image-column, --label-column and --patient-column (image_column=, "
    "label_column=, patient_column= in Python)."
)


@dataclass
class Listing:
    """Where a dataset's images came from and what was left out on the way."""

    location: str
    dicom: int = 0  # DICOM files among the images kept
    ignored: int = 0  # files that are not images (no image suffix, no DICM marker)
    skipped: list[str] = field(default_factory=list)  # "path: reason" of unusable files
    dropped_labels: list[str] = field(default_factory=list)  # labels with no positive in a split
    ignored_labels: dict[str, int] = field(default_factory=dict)  # values not in `labels=`


def is_glob(location: str | os.PathLike) -> bool:
    return any(c in os.fspath(location) for c in GLOB_CHARACTERS)


def is_table(location: str | os.PathLike) -> bool:
    return os.fspath(location).lower().endswith(TABLE_SUFFIXES)


def image_kind(path: Path) -> str | None:
    """ "dicom", "image" or None (not an image file), from the suffix or the DICM marker."""
    suffix = path.suffix.lower()
    if suffix in DICOM_SUFFIXES:
        return "dicom"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    try:
        return "dicom" if path.stat().st_size >= 132 and is_dicom(path) else None
    except OSError:
        return None


def find_images(location: str | os.PathLike) -> tuple[list[Path], Listing]:
    """The image files under a folder (recursively) or matching a glob, sorted, with a `Listing`
    of what was found. Raises `FileNotFoundError` / `ValueError` when there is nothing to read."""
    text = os.fspath(location)
    listing = Listing(text)
    if is_glob(text):
        candidates = [Path(p) for p in glob.glob(os.path.expanduser(text), recursive=True)]
        candidates = [p for p in candidates if p.is_file()]
    else:
        root = Path(text).expanduser()
        if root.is_file():
            candidates = [root]
        elif root.is_dir():
            candidates = list(_walk(root))
        else:
            raise FileNotFoundError(f"No folder or file at {text}.")
    images = []
    for path in sorted(candidates):
        kind = image_kind(path)
        if kind is None:
            listing.ignored += 1
            continue
        images.append(path)
        listing.dicom += kind == "dicom"
    if not images:
        raise ValueError(
            f"No images at {text} ({listing.ignored} other file(s)); expected PNG, JPEG, TIFF, "
            "BMP or DICOM files (DICOM also without a suffix), in a folder walked recursively, "
            "a glob such as 'scans/**/*.dcm', or a CSV/TSV file listing them."
        )
    return images, listing


def image_files(
    locations: Sequence[str | os.PathLike], image_column: str = "image"
) -> tuple[list[Path], Listing]:
    """The image files that folders, globs, CSV/TSV files (their `image_column`) and files name,
    in the order given, with one `Listing` of them all."""
    paths: list[Path] = []
    total = Listing(", ".join(os.fspath(item) for item in locations))
    for item in locations:
        if is_table(item):
            found, listing = read_image_table(item, image_column).paths, Listing(os.fspath(item))
            listing.dicom = sum(image_kind(p) == "dicom" for p in found if p.is_file())
        else:
            found, listing = find_images(item)
        paths += found
        total.dicom += listing.dicom
        total.ignored += listing.ignored
    return paths, total


def _walk(root: Path):
    for folder, subfolders, files in os.walk(root, followlinks=False):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in files:
            if not name.startswith("."):
                yield Path(folder) / name


def split_of(path: Path, root: Path) -> str | None:
    """The split a file lies in when `root` holds split folders (`train/`, `val/`, `test/`)."""
    first = path.relative_to(root).parts[0].lower()
    return SPLIT_FOLDERS.get(first)


def class_folder_layout(root: Path, images: Sequence[Path]) -> tuple[bool, str]:
    """Whether `images` (under `root`) lie in class folders, each image directly in its class
    folder (below split folders when there are some), at least two classes; and why not."""
    depths, classes = set(), set()
    for path in images:
        parts = path.relative_to(root).parts
        if split_of(path, root):
            parts = parts[1:]
        depths.add(len(parts))
        classes.add(parts[0] if len(parts) > 1 else None)
    if depths == {1}:
        return False, "the images lie directly in the folder, in no class folder"
    if depths != {2}:
        return False, "the images are not all directly inside class folders"
    if len(classes) < 2:
        return False, "there is only one subfolder"
    return True, f"{len(classes)} class folders"


# --- tables ----------------------------------------------------------------------------------------


@dataclass
class ImageTable:
    """What a CSV/TSV file says: image paths, labels (class indices or a multi-hot matrix, None
    when unlabelled) with their names, and patient ids (None when the file has none)."""

    paths: list[Path]
    labels: np.ndarray | None
    label_names: list[str]
    patients: np.ndarray | None
    listing: Listing


def read_rows(path: Path, required: Sequence[str] = (), hint: str = "") -> list[dict[str, str]]:
    """The rows of a CSV or TSV file (gzipped or not) as dicts, after checking its columns."""
    opener = gzip.open if path.suffix == ".gz" else open
    delimiter = "\t" if ".tsv" in path.name.lower() else ","
    try:
        with opener(path, "rt", newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, delimiter=delimiter)
            rows = list(reader)
            columns = list(reader.fieldnames or [])
    except (UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"{path} is not a readable UTF-8 CSV/TSV file ({error}).") from error
    missing = [c for c in required if c not in columns]
    if missing:
        raise ValueError(f"{path} lacks column(s) {missing}; it has {columns}.{hint}")
    return rows


def read_image_table(
    path: str | os.PathLike,
    image_column: str = "image",
    label_column: str | None = None,
    patient_column: str | None = None,
    label_separator: str | None = None,
    labels: Sequence[str] | None = None,
) -> ImageTable:
    """The images a CSV/TSV file lists, with labels from `label_column` (several per row when
    `label_separator` is given) restricted to `labels` if given (other values are counted in the
    listing and ignored, so `No Finding` rows become all-zero) and patients from `patient_column`."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"No CSV/TSV file at {path}.")
    required = [c for c in (image_column, label_column, patient_column) if c]
    rows = read_rows(path, required, hint=COLUMNS_HINT)
    if not rows:
        raise ValueError(f"{path} lists no images (it has a header and no rows).")
    listing = Listing(str(path))
    paths = _resolve_image_paths([row[image_column] for row in rows], path.parent)
    patients = np.asarray([row[patient_column] for row in rows]) if patient_column else None
    if label_column is None:
        if labels or label_separator:
            raise ValueError("labels and label_separator need a label column (--label-column).")
        return ImageTable(paths, None, [], patients, listing)
    values = [_split_label(row[label_column], label_separator) for row in rows]
    empty = [i for i, row in enumerate(values) if not row]
    if empty and label_separator is None and not labels:
        raise ValueError(
            f"{len(empty)} row(s) of {path} have no {label_column!r} (e.g. data row {empty[0] + 1}); "
            "fill them, or choose the classes with --labels (rows of other classes are left out)."
        )
    seen = sorted({v for row in values for v in row})
    names = [name for item in labels or () for name in item.split(",") if name] or seen
    unknown = [name for name in names if name not in seen]
    if unknown and label_separator is None:  # multi-label: dropped later with a warning
        raise ValueError(
            f"Label(s) {unknown} never occur in column {label_column!r} of {path}; its values are "
            f"{seen[:20]}{' ...' if len(seen) > 20 else ''}."
        )
    listing.ignored_labels = dict(Counter(v for row in values for v in row if v not in names))
    index = {name: i for i, name in enumerate(names)}
    if label_separator is None:
        keep = np.asarray([bool(row) and row[0] in index for row in values])
        if not keep.all():  # single-label rows of a class not chosen: not in this dataset
            paths = [p for p, kept in zip(paths, keep, strict=True) if kept]
            patients = None if patients is None else patients[keep]
            values = [row for row, kept in zip(values, keep, strict=True) if kept]
        return ImageTable(
            paths, np.asarray([index[row[0]] for row in values]), names, patients, listing
        )
    multi_hot = np.zeros((len(values), len(names)), dtype=np.int64)
    for i, row in enumerate(values):
        multi_hot[i, [index[v] for v in row if v in index]] = 1
    return ImageTable(paths, multi_hot, names, patients, listing)


def _split_label(value: str | None, separator: str | None) -> list[str]:
    """The labels of one cell: [] when it is empty (multi-label: no positive label)."""
    value = (value or "").strip()
    if separator is None:
        return [value] if value else []
    return [part.strip() for part in value.split(separator) if part.strip()]


def _resolve_image_paths(names: Sequence[str], folder: Path) -> list[Path]:
    """Each name as a path: absolute, relative to the table's folder, or else a file of that name
    anywhere below the folder (NIH spreads its images over images_001/images/ ...)."""
    paths = [Path(name) if Path(name).is_absolute() else folder / name for name in names]
    if all(p.exists() for p in paths):
        return paths
    by_name: dict[str, Path] = {}
    for found in _walk(folder):
        by_name.setdefault(found.name, found)
    return [p if p.exists() else by_name.get(p.name, p) for p in paths]


def patient_ids(paths: Sequence[Path]) -> np.ndarray:
    """Patient ids: a DICOM file's `PatientID` where it has one, else the file itself (its own
    patient), so that the images of one patient stay on one side of a split."""
    ids = []
    for path in paths:
        patient = dicom_patient_id(path) if image_kind(path) == "dicom" else None
        ids.append(f"patient:{patient}" if patient else f"file:{path}")
    return np.asarray(ids)
