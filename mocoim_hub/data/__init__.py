"""Datasets, two-view augmentations, few-label splits and loaders.

Reading datasets needs the `train` extra (the `datasets` library): pip install 'mocoim_hub[train]'.
"""

from .adapters import (
    NIH_FINDINGS,
    ImageDataset,
    default_dataset,
    diabetic_retinopathy,
    hf_dataset,
    idc_histopathology,
    image_folder,
    nih_chestxray14,
)
from .augment import PRESETS, TwoViews, two_view_transform, view_transform
from .default import load_default_dataset
from .kinds import DATASETS, open_dataset
from .loading import collate_skipping_bad, make_loader
from .splits import few_label_subset, patient_disjoint_split

__all__ = [
    "DATASETS",
    "NIH_FINDINGS",
    "PRESETS",
    "ImageDataset",
    "TwoViews",
    "collate_skipping_bad",
    "default_dataset",
    "diabetic_retinopathy",
    "few_label_subset",
    "hf_dataset",
    "idc_histopathology",
    "image_folder",
    "load_default_dataset",
    "make_loader",
    "nih_chestxray14",
    "open_dataset",
    "patient_disjoint_split",
    "two_view_transform",
    "view_transform",
]
