"""The dataset kinds that recipes and commands name (`dataset` / `--dataset`): how each opens,
what its `data_path` is, and what model cards say about it. The one list of kinds."""

from __future__ import annotations

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
    nih_chestxray14,
    torch_dataset,
)
from .default import require_datasets


@dataclass(frozen=True)
class DatasetInfo:
    """What a model card says about a pretraining dataset."""

    name: str
    url: str
    modality: str
    terms: str
    caveat: str
    license: str  # the licence we give weights trained on it
    hub_id: str | None = None
    tags: tuple[str, ...] = ()
    medical: bool = True  # the card's limitations speak of scanners, patients and fairness


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


@dataclass(frozen=True)
class DatasetKind:
    """How to open one kind of dataset: `open(data_path, **adapter_options)` -> its splits."""

    open: Callable[..., dict[str, ImageDataset]]
    data_path: str | None  # what `data_path` names; None: the kind needs none
    info: DatasetInfo = CUSTOM_DATASET


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
    "image_folder": DatasetKind(image_folder, "a folder with one subfolder of images per class"),
    "hf_dataset": DatasetKind(hf_dataset, "a datasets Hub id or a saved dataset folder"),
    "nih": DatasetKind(nih_chestxray14, "the NIH ChestX-ray14 folder", _CARD_INFO["nih"]),
    "idc": DatasetKind(idc_histopathology, "the IDC patches folder", _CARD_INFO["idc"]),
    "dr": DatasetKind(
        _diabetic_retinopathy, "CSV:IMAGE_DIR (EyePACS labels and images)", _CARD_INFO["dr"]
    ),
    "python": DatasetKind(_given_from_python, None),  # a dataset object given to pretrain()
}


def open_dataset(kind: str, path: str | None = None, **kwargs) -> dict[str, ImageDataset]:
    """The splits of a dataset named by kind (a key of `DATASETS`) and location."""
    if kind not in DATASETS:
        raise ValueError(f"Unknown dataset {kind!r}; expected one of {', '.join(DATASETS)}.")
    entry = DATASETS[kind]
    if entry.data_path is not None and path is None:
        raise ValueError(
            f"Dataset {kind!r} needs a path: {entry.data_path} (data_path in a recipe, "
            "--data-path on the command line)."
        )
    return entry.open(path, **kwargs)


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


def card_info(kind: str | None) -> DatasetInfo:
    """What a model card says about a pretraining dataset (`pretraining_dataset` in a config,
    `kind` or `kind:path`)."""
    entry = DATASETS.get((kind or "").split(":")[0])
    return entry.info if entry is not None else CUSTOM_DATASET
