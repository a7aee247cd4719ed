"""What a command read, said before long work starts and written beside its results: images per
split, DICOM files, files skipped and why, patients, labels with their positives, and the split
itself (`splits.csv`: every image, its split and patient), so a run can be checked and repeated."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .adapters import ImageDataset

SUMMARY_FILE = "data.json"
SPLITS_FILE = "splits.csv"


@dataclass
class DataSummary:
    """Counts of the images a run read (see `summarize`)."""

    location: str
    kind: str
    images: dict[str, int]  # per split
    dicom: int | None  # None: the source does not say (e.g. a datasets table)
    skipped: int
    skipped_examples: list[str]
    ignored_files: int
    patients: int | None
    labels: dict[str, int]  # label -> positives (images of the class) over all splits
    multi_label: bool
    dropped_labels: list[str] = field(default_factory=list)
    ignored_label_values: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.images.values())

    def __str__(self) -> str:
        lines = [f"read {self.total} images from {self.location} ({self.kind})"]
        counts = [f"{n} {split}" for split, n in self.images.items()]
        lines.append("  splits: " + ", ".join(counts))
        if self.dicom is not None:
            lines.append(f"  DICOM: {self.dicom} of them")
        lines.append(
            f"  skipped: {self.skipped}"
            + (f" (e.g. {'; '.join(self.skipped_examples[:3])})" if self.skipped else "")
            + (f"; {self.ignored_files} other file(s) ignored" if self.ignored_files else "")
        )
        if self.patients is not None:
            lines.append(f"  patients: {self.patients} (no patient in two splits)")
        if self.labels:
            kind = "multi-label" if self.multi_label else "classes"
            shown = ", ".join(f"{name} ({n})" for name, n in self.labels.items())
            lines.append(f"  labels ({kind}): {shown}")
        else:
            lines.append("  labels: none (unlabelled)")
        if self.dropped_labels:
            lines.append(
                f"  dropped labels (no positive in a split): {', '.join(self.dropped_labels)}"
            )
        if self.ignored_label_values:
            shown = ", ".join(f"{v} ({n})" for v, n in self.ignored_label_values.items())
            lines.append(f"  label values not chosen (ignored): {shown}")
        return "\n".join(lines)


def summarize(
    splits: dict[str, ImageDataset], kind: str, location: str | None = None
) -> DataSummary:
    """The counts of `splits`, read from the datasets and the listing they came with."""
    first = next(iter(splits.values()))
    listing = first.listing
    patients = None
    if first.patient_ids is not None:
        patients = len(set().union(*(set(s.patient_ids) for s in splits.values())))
    labels: dict[str, int] = {}
    if first.labelled:
        all_labels = np.concatenate([s.labels for s in splits.values()])
        if all_labels.ndim == 2:
            counts = all_labels.sum(axis=0)
        else:
            counts = np.bincount(all_labels, minlength=len(first.label_names))
        labels = {name: int(n) for name, n in zip(first.label_names, counts, strict=True)}
    return DataSummary(
        location=location or (listing.location if listing else kind),
        kind=kind,
        images={split: len(data) for split, data in splits.items()},
        dicom=listing.dicom if listing else None,
        skipped=len(listing.skipped) if listing else 0,
        skipped_examples=list(listing.skipped[:5]) if listing else [],
        ignored_files=listing.ignored if listing else 0,
        patients=patients,
        labels=labels,
        multi_label=first.labelled and first.labels.ndim == 2,
        dropped_labels=list(listing.dropped_labels) if listing else [],
        ignored_label_values=dict(listing.ignored_labels) if listing else {},
    )


def write_data_record(
    splits: dict[str, ImageDataset], summary: DataSummary, folder: str | Path, **extra
) -> list[Path]:
    """`data.json` (the summary and `extra`, e.g. the seed and which splits pretraining used) and
    `splits.csv` (each image file, its split and patient) in `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    summary_path = folder / SUMMARY_FILE
    summary_path.write_text(json.dumps({**asdict(summary), **extra}, indent=2) + "\n")
    paths = [summary_path]
    first = next(iter(splits.values()))
    if isinstance(first.images[int(first.rows[0])], str | os.PathLike):  # files: list them
        splits_path = folder / SPLITS_FILE
        with splits_path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "split", "patient_id"])
            for name, data in splits.items():
                patients = data.patient_ids if data.patient_ids is not None else [""] * len(data)
                for row, patient in zip(data.rows, patients, strict=True):
                    writer.writerow([os.fspath(data.images[int(row)]), name, patient])
        paths.append(splits_path)
    return paths
