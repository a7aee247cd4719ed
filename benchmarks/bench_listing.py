"""What naming your own images costs before training starts, on an archive of N files laid out as
real ones are (DICOM series without suffixes, class folders of PNGs), against a bare `os.walk`
of the same tree measured alternately in the same run:

1. `find_images` (walk + telling DICOM from other files by the `DICM` marker);
2. `infer_kind` (the walk again, plus the class-folder test) as `--data-path` without a kind does;
3. `image_folder` (listing, file checks, each DICOM's `PatientID` read for the patient split).

    python benchmarks/bench_listing.py [--files 10000] [--repeats 5]

The archive is written once to a temporary folder from pydicom's CT test file and one PNG (the
files' count and layout matter here, not their pixels). Prints medians and files per second.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.data import get_testdata_file

from mocoim_hub.data.adapters import image_folder
from mocoim_hub.data.files import find_images
from mocoim_hub.data.kinds import infer_kind


def write_archive(root: Path, files: int) -> None:
    """Half DICOM (`<class>/<patient>/IMnnnn`, no suffix, 10 images a patient), half PNG."""
    dicom = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    png = root / "template.png"
    Image.fromarray(np.zeros((64, 64), np.uint16)).save(png)
    payload = png.read_bytes()
    png.unlink()
    for i in range(files):
        label = "a" if i % 4 < 2 else "b"
        if i % 2:
            folder = root / label / f"P{i // 20:05d}"
            folder.mkdir(parents=True, exist_ok=True)
            dicom.PatientID = f"P{i // 20:05d}"
            dicom.save_as(folder / f"IM{i:06d}", enforce_file_format=True)
        else:
            (root / label).mkdir(parents=True, exist_ok=True)
            (root / label / f"{i:06d}.png").write_bytes(payload)


def bare_walk(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_archive(root, args.files)
        candidates = {
            "os.walk (baseline)": lambda: bare_walk(root),
            "find_images": lambda: find_images(root),
            "infer_kind": lambda: infer_kind(root),
            "image_folder (+ PatientID)": lambda: image_folder(root),
        }
        times: dict[str, list[float]] = {name: [] for name in candidates}
        for _ in range(args.repeats):  # alternately, so a busy machine slows all alike
            for name, run in candidates.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    baseline = statistics.median(times["os.walk (baseline)"])
    print(f"{args.files} files (half DICOM without a suffix), median of {args.repeats}:")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:28s} {median:7.3f} s  {args.files / median:9.0f} files/s  "
              f"{median / baseline:6.1f}x the bare walk")  # fmt: skip


if __name__ == "__main__":
    main()
