"""The dataset kinds that recipes and commands name (`dataset` / `--dataset`): how each opens,
what its `data_path` is, and what model cards say about it. The one list of kinds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .adapters import (
    ImageDataset,
    default_dataset,
    diabetic_retinopathy,
    hf_dataset,
    idc_histopathology,
    image_folder,
    nih_chestxray14,
)


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


def card_info(kind: str | None) -> DatasetInfo:
    """What a model card says about a pretraining dataset (`pretraining_dataset` in a config,
    `kind` or `kind:path`)."""
    entry = DATASETS.get((kind or "").split(":")[0])
    return entry.info if entry is not None else CUSTOM_DATASET
