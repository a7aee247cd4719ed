"""Datasets (your own folders, globs and CSV files, and the known ones), two-view augmentations,
few-label splits and loaders.

Reading datasets needs the `train` extra (the `datasets` library): pip install 'mocoim_hub[train]'.
"""

from .adapters import (
    NIH_FINDINGS,
    ImageDataset,
    concatenate,
    default_dataset,
    diabetic_retinopathy,
    hf_dataset,
    idc_histopathology,
    image_folder,
    image_table,
    images,
    nih_chestxray14,
)
from .augment import PRESETS, TwoViews, two_view_transform, view_transform
from .default import load_default_dataset
from .files import find_images, image_files, read_image_table
from .kinds import DATASETS, infer_kind, open_dataset
from .loading import collate_skipping_bad, make_loader
from .splits import few_label_subset, patient_disjoint_split
from .summary import DataSummary, summarize

__all__ = [
    "DATASETS",
    "NIH_FINDINGS",
    "PRESETS",
    "DataSummary",
    "ImageDataset",
    "TwoViews",
    "collate_skipping_bad",
    "concatenate",
    "default_dataset",
    "diabetic_retinopathy",
    "few_label_subset",
    "find_images",
    "hf_dataset",
    "idc_histopathology",
    "image_files",
    "image_folder",
    "image_table",
    "images",
    "infer_kind",
    "load_default_dataset",
    "make_loader",
    "nih_chestxray14",
    "open_dataset",
    "patient_disjoint_split",
    "read_image_table",
    "summarize",
    "two_view_transform",
    "view_transform",
]
