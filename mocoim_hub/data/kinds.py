"""The dataset kinds that recipes and commands name (`dataset` / `--dataset`): how each opens,
what its `data_path` is, and what model cards say about it. The one list of kinds."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .adapters import (
    ImageDataset,
    default_dataset,
    diabetic_retinopathy,
    hf_dataset,
    idc_histopathology,
    image_folder,
    image_table,
    images,
    nih_chestxray14,
    torch_dataset,
)
from .default import require_datasets
from .files import class_folder_layout, find_images, is_glob, is_table

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetInfo:
    """What a model card says about a pretraining dataset."""

    name: str
    url: str | None  # None: no public page (a user's own images)
    modality: str
    terms: str
    caveat: str
    license: str  # the licence we give weights trained on it
    hub_id: str | None = None
    tags: tuple[str, ...] = ()
    medical: bool = True  # the card's limitations speak of scanners, patients and fairness
    details: str = ""  # what a run read of a user's own images (counts), for its card


_CARD_INFO: dict[str, DatasetInfo] = {
    "default": DatasetInfo(
        name="Fashion-MNIST subset embedded in mocoim_hub (10k/2k/2k, class-balanced)",
        url="https://github.com/zalandoresearch/fashion-mnist",
        modality="28 px grayscale photographs of clothing (not medical images)",
        terms="MIT licence (Zalando Research).",
        caveat="The pretraining images are clothing, not medical images: this model demonstrates "
        "the method and the package; its features are not meant for medical tasks.",
        license="apache-2.0",
        hub_id="zalando-datasets/fashion_mnist",
        tags=("demo",),
        medical=False,
    ),
    "nih": DatasetInfo(
        name="NIH ChestX-ray14",
        url="https://nihcc.app.box.com/v/ChestXray-NIHCC",
        modality="frontal chest X-rays",
        terms="released by the NIH Clinical Center without restrictions on use; cite Wang et al., "
        "CVPR 2017.",
        caveat="ChestX-ray14 labels were mined from radiology reports and are noisy; images "
        "come from one hospital system.",
        license="apache-2.0",
        tags=("medical-imaging", "chest-x-ray", "radiology"),
    ),
    "idc": DatasetInfo(
        name="Breast histopathology IDC patches (Janowczyk & Madabhushi, 2016)",
        url="https://www.kaggle.com/datasets/paultimothymooney/breast-histopathology-images",
        modality="50×50 px H&E-stained breast histopathology patches",
        terms="CC0 1.0 on Kaggle; cite Janowczyk & Madabhushi, J Pathol Inform 2016.",
        caveat="Patches come from 162 whole-slide images of one institution; stain and scanner "
        "differences elsewhere will shift the features.",
        license="apache-2.0",
        tags=("medical-imaging", "histopathology", "pathology"),
    ),
    "dr": DatasetInfo(
        name="Diabetic Retinopathy Detection (Kaggle, EyePACS)",
        url="https://www.kaggle.com/c/diabetic-retinopathy-detection",
        modality="colour fundus photographs",
        terms="Kaggle competition rules (EyePACS images); check them before any use beyond "
        "research.",
        caveat="Fundus images from a US screening programme with varied cameras and quality; grade "
        "labels have inter-grader disagreement.",
        license="other",
        tags=("medical-imaging", "retina", "ophthalmology", "fundus"),
    ),
}
CUSTOM_DATASET = DatasetInfo(
    name="user-provided images",
    url="https://huggingface.co/docs/hub/model-cards",
    modality="images provided by whoever trained it",
    terms="see the data owner's terms.",
    caveat="The pretraining data is not described beyond its location; ask the model's author.",
    license="other",
)


# How to read a CSV/TSV file's columns (the `csv` kind; `hf_dataset` takes the first three):
# recipe fields, `pretrain(...)` keywords and `--image-column ...` flags of every command.
TABLE_OPTIONS: dict[str, str] = {
    "image_column": "column of image paths (relative to the file's folder) in a CSV/TSV file",
    "label_column": "column of labels (class names; several per row with --label-separator)",
    "patient_column": "column of patient ids: a patient's images stay in one split",
    "label_separator": "separator of several labels in one cell, e.g. '|' (multi-label)",
    "labels": "labels to use, in this order (others ignored; default: every value found)",
}


DATA_PATH_HELP = (
    "your images: a folder (walked recursively, DICOM with or without a suffix included), a "
    "glob ('scans/**/*.dcm') or a CSV/TSV file listing them; a dataset kind's own path"
)


@dataclass(frozen=True)
class DatasetKind:
    """How to open one kind of dataset: `open(data_path, **options)` -> its splits."""

    open: Callable[..., dict[str, ImageDataset]]
    data_path: str | None  # what `data_path` names; None: the kind needs none
    info: DatasetInfo = CUSTOM_DATASET
    options: tuple[str, ...] = ()  # the TABLE_OPTIONS it takes


def _diabetic_retinopathy(path: str, **kwargs) -> dict[str, ImageDataset]:
    csv_path, _, image_dir = path.partition(":")
    return diabetic_retinopathy(csv_path, image_dir or Path(csv_path).parent, **kwargs)


def _given_from_python(_, **kwargs) -> dict[str, ImageDataset]:
    raise ValueError(
        "This run's images were given from Python (pretrain(data=...)), which no recipe can "
        "name: pass them again with data= to continue it."
    )


DATASETS: dict[str, DatasetKind] = {
    "default": DatasetKind(
        lambda _, **kwargs: default_dataset(**kwargs), None, _CARD_INFO["default"]
    ),
    "images": DatasetKind(images, "a folder (walked recursively) or a glob; unlabelled"),
    "image_folder": DatasetKind(image_folder, "a folder with one subfolder of images per class"),
    "csv": DatasetKind(image_table, "a CSV/TSV file listing images", options=tuple(TABLE_OPTIONS)),
    "hf_dataset": DatasetKind(
        hf_dataset,
        "a datasets Hub id or a saved dataset folder",
        options=("image_column", "label_column", "patient_column"),
    ),
    "nih": DatasetKind(nih_chestxray14, "the NIH ChestX-ray14 folder", _CARD_INFO["nih"]),
    "idc": DatasetKind(idc_histopathology, "the IDC patches folder", _CARD_INFO["idc"]),
    "dr": DatasetKind(
        _diabetic_retinopathy, "CSV:IMAGE_DIR (EyePACS labels and images)", _CARD_INFO["dr"]
    ),
    "python": DatasetKind(_given_from_python, None),  # a dataset object given to pretrain()
}
"""The dataset kinds by name (`--dataset`): how each opens a path, and its facts for model cards."""


def kinds_help() -> str:
    """One line per dataset kind and what its path names, for `--help`."""
    return "; ".join(
        f"{name}: {entry.data_path or 'no path'}"
        for name, entry in DATASETS.items()
        if name != "python"
    )


def check_dataset(
    kind: str, path: str | None, options: Mapping[str, Any] | None = None, need_path: bool = True
) -> None:
    """Refuse a kind that does not exist, a path missing (`need_path`) or given where none is
    read, and table options the kind would not use (nothing the user named is ignored)."""
    if kind not in DATASETS:
        raise ValueError(f"Unknown dataset {kind!r}; expected one of {', '.join(DATASETS)}.")
    entry = DATASETS[kind]
    if need_path and entry.data_path is not None and path is None:
        raise ValueError(
            f"Dataset {kind!r} needs a path: {entry.data_path} (data_path in a recipe, "
            "--data-path on the command line)."
        )
    if entry.data_path is None and path is not None and kind != "python":
        raise ValueError(
            f"Dataset {kind!r} reads no path, but data_path is {path!r}: leave the dataset kind "
            f"out to have it inferred from the path, or name one ({kinds_help()})."
        )
    unused = [
        name for name, value in (options or {}).items() if value and name not in entry.options
    ]
    if unused:
        flags = ", ".join("--" + name.replace("_", "-") for name in unused)
        raise ValueError(
            f"{flags} apply to CSV/TSV files (dataset 'csv'), not to dataset {kind!r}; "
            "remove them or read a CSV file."
        )


def open_dataset(
    kind: str, path: str | None = None, options: Mapping[str, Any] | None = None, **kwargs
) -> dict[str, ImageDataset]:
    """The splits of a dataset named by kind (a key of `DATASETS`) and location; `options` are
    `TABLE_OPTIONS` (those left at None are not passed)."""
    check_dataset(kind, path, options)
    given = {name: value for name, value in (options or {}).items() if value is not None}
    return DATASETS[kind].open(path, **given, **kwargs)


def kind_for(kind: str | None, path: str | os.PathLike | None) -> str:
    """The kind to read `path` with: `kind` when it reads a path (or no path is given), else the
    kind inferred from the path (`infer_kind`), so a path is never read as the embedded set."""
    if path is None:
        return kind or "default"
    if kind is not None and DATASETS[kind].data_path is not None:
        return kind
    inferred, why = infer_kind(path)
    logger.info("reading %s as dataset %r: %s", os.fspath(path), inferred, why)
    return inferred


def infer_kind(path: str | os.PathLike) -> tuple[str, str]:
    """The dataset kind of a path, and why: a glob or an image file -> `images`; a CSV/TSV file
    -> `csv`; a folder: NIH ChestX-ray14 (`Data_Entry_2017*.csv`) -> `nih`, a saved datasets
    folder -> `hf_dataset`, class folders (`root/<class>/<image>`) -> `image_folder`, any other
    tree -> `images` (unlabelled). Raises `FileNotFoundError` for a path that is not there."""
    text = os.fspath(path)
    if is_glob(text):
        return "images", "a glob"
    location = Path(text).expanduser()
    if location.is_file():
        return ("csv", "a CSV/TSV file") if is_table(location) else ("images", "an image file")
    if not location.is_dir():
        raise FileNotFoundError(
            f"No folder or file at {text} (for a datasets Hub id, name --dataset hf_dataset)."
        )
    if any(location.glob("Data_Entry_2017*.csv*")):
        return "nih", "it holds Data_Entry_2017.csv (NIH ChestX-ray14)"
    if (location / "dataset_dict.json").is_file() or (location / "state.json").is_file():
        return "hf_dataset", "a saved datasets folder"
    found, _ = find_images(location)
    classes, why = class_folder_layout(location, found)
    if classes:
        return "image_folder", f"{why}, one per class (labels are their names)"
    return (
        "images",
        f"unlabelled: {why} (name --dataset image_folder to take labels from the first folder level)",
    )


def open_data(data: Any, **kwargs) -> dict[str, ImageDataset]:
    """The splits of images given from Python: `{split: ImageDataset}` (a "train" split
    at least), an `ImageDataset` (all of it is "train"), a `datasets.Dataset` / `DatasetDict`
    (labels from its "label" column when it has one), or a map-style torch `Dataset`
    (unlabelled; items are images, `(image, ...)` tuples or `{"image": ...}` dicts)."""
    if isinstance(data, ImageDataset):
        return {"train": data}
    if isinstance(data, Mapping) and all(isinstance(v, ImageDataset) for v in data.values()):
        if "train" not in data:
            raise ValueError(f"Expected a 'train' split among the splits given, got {list(data)}.")
        return dict(data)
    datasets = require_datasets()
    if isinstance(data, datasets.Dataset | datasets.DatasetDict):
        tables = data.values() if isinstance(data, Mapping) else [data]
        labelled = all("label" in table.column_names for table in tables)
        return hf_dataset(data, label_column="label" if labelled else None, **kwargs)
    if isinstance(data, torch.utils.data.Dataset):
        return torch_dataset(data, **kwargs)
    raise TypeError(
        f"Expected images as {{split: ImageDataset}}, an ImageDataset, a datasets.Dataset or "
        f"DatasetDict, or a torch Dataset; got {type(data).__name__}."
    )


def data_name(kind: str, path: str | None) -> str:
    """What to call a dataset: a shipped kind's own name, or the folder the images were read
    from (a CSV/TSV file's folder; a glob's fixed part)."""
    if path is None:
        if kind == "python":
            return "images given from Python"
        info = DATASETS[kind].info
        return kind if info is CUSTOM_DATASET else info.name
    if DATASETS[kind].info is not CUSTOM_DATASET:
        return DATASETS[kind].info.name
    fixed = Path(re.split(r"[*?\[]", path)[0] or ".").expanduser()
    folder = fixed.parent if fixed.is_file() or not fixed.is_dir() else fixed
    return folder.resolve().name


def card_info(kind: str | None, data: Mapping[str, Any] | None = None) -> DatasetInfo:
    """What a model card says about a pretraining dataset (`pretraining_dataset` in a config,
    `kind` or `kind:path`); for a user's own images, named and counted from `data` (the
    config's `pretraining_data`)."""
    entry = DATASETS.get((kind or "").split(":")[0])
    info = entry.info if entry is not None else CUSTOM_DATASET
    if info is not CUSTOM_DATASET or not data:
        return info
    return dataclasses.replace(
        CUSTOM_DATASET, name=str(data["name"]), url=None,
        modality=f"the images of {data['name']}",
        caveat=f"The pretraining data is {data['name']}, described here only by its counts; "
        "ask the model's author about its sources, scanners and population.",
        details=_counts_text(data),
    )  # fmt: skip


def _counts_text(data: Mapping[str, Any]) -> str:
    """E.g. "200 images (60 DICOM) of 60 patients; pretrained on 158 of them (train + test)"."""
    parts = [f"{data['images']} images"]
    if data.get("dicom"):
        parts[0] += f" ({data['dicom']} DICOM)"
    if data.get("patients") is not None:
        parts.append(f"of {data['patients']} patients")
    unusable = (data.get("skipped") or 0) + (data.get("unreadable_in_training") or 0)
    if unusable:
        parts.append(f"{unusable} unreadable file(s) skipped")
    used = data.get("pretraining_splits") or []
    text = " ".join(parts)
    return f"{text}; pretrained on {data.get('pretraining_images')} of them ({' + '.join(used)})"
