"""Real medical images shipped by installed packages, for examples, demos and tests (no downloads).

- `retina`: fundus photograph, scikit-image `data.retina()` (CC0), RGB.
- `immunohistochemistry`: colon tissue, scikit-image `data.immunohistochemistry()` (public
  domain), RGB.
- `ct`: a CT slice, pydicom's test file `CT_small.dcm` (its licence: pydicom's test-data notes),
  read with `read_dicom`, float in [0, 1].
"""

from __future__ import annotations

import atexit
import csv
import functools
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .extras import require
from .imaging import read_dicom

EXAMPLE_NAMES = ("retina", "immunohistochemistry", "ct")


def example_images() -> dict[str, np.ndarray]:
    """The example images by name (needs scikit-image and pydicom: the `app` or `dev` extra)."""
    require("The example images", "skimage", "pydicom")
    from pydicom.data import get_testdata_file
    from skimage import data

    return {
        "retina": data.retina(),
        "immunohistochemistry": data.immunohistochemistry(),
        "ct": read_dicom(get_testdata_file("CT_small.dcm")),
    }


@functools.cache
def _private_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="mocoim-examples-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def example_files(folder: str | os.PathLike | None = None) -> dict[str, Path]:
    """The example images as files a user would upload: retina and immunohistochemistry as PNG,
    the CT slice as pydicom's original DICOM file, and two images of the embedded dataset.

    Without `folder` they go to this process's own temporary folder (made fresh, removed at
    exit), never to a shared one where another user's files could stand in for them."""
    require("The example images", "skimage", "pydicom")
    from PIL import Image
    from pydicom.data import get_testdata_file
    from skimage import data

    from .data.default import load_default_dataset

    folder = Path(folder) if folder is not None else _private_folder()
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "retina": folder / "retina.png",
        "immunohistochemistry": folder / "immunohistochemistry.png",
    }
    for name, load in (
        ("retina", data.retina),
        ("immunohistochemistry", data.immunohistochemistry),
    ):
        if not files[name].exists():
            Image.fromarray(load()).save(files[name])
    files["ct"] = Path(get_testdata_file("CT_small.dcm"))
    test = load_default_dataset("test")
    for index in (0, 1):
        path = folder / f"gallery_{index}.png"
        if not path.exists():
            test[index]["image"].save(path)
        files[f"gallery_{index}"] = path
    return files


def write_example_archive(folder: str | os.PathLike, seed: int = 0) -> Path:
    """A small archive laid out as real ones are, made from the real images above, to try the
    commands on before your own images: 200 images in

    - `scans/<patient>/<study>/<series>/IM0001`: 60 DICOM files without a suffix (crops of
      pydicom's CT and MR slices), 20 patients, half of them stored MONOCHROME1;
    - `photos/<class>/*.png`: 16-bit grayscale crops of the fundus and histology images in two
      class folders (40 each);
    - `flat/*.jpg`: 60 more crops in one flat folder, beside `flat/broken.png` (a truncated file)
      and `notes.txt` (not an image);
    - `labels.csv`: `image,findings,patient` for the 200 images, findings such as `CT|Zoomed`
      (the source, and Zoomed when the crop is less than half the source's side).

    Returns `folder`. Nothing is downloaded (needs scikit-image and pydicom)."""
    require("The example archive", "skimage", "pydicom")
    import pydicom
    from PIL import Image
    from pydicom.data import get_testdata_file
    from skimage import data

    folder = Path(folder)
    rng = np.random.default_rng(seed)
    dicoms = {
        name: pydicom.dcmread(get_testdata_file(f"{name}_small.dcm")) for name in ("CT", "MR")
    }
    gray = {
        "Fundus": data.retina().mean(axis=2) / 255,
        "Histology": data.immunohistochemistry().mean(axis=2) / 255,
    }
    rows = []

    def crop(image: np.ndarray) -> tuple[np.ndarray, bool]:
        side = min(image.shape[:2])
        size = int(side * rng.uniform(0.3, 0.9))
        top, left = (
            rng.integers(0, image.shape[0] - size + 1),
            rng.integers(0, image.shape[1] - size + 1),
        )
        return image[top : top + size, left : left + size], size < side / 2

    def resized(image: np.ndarray, side: int) -> np.ndarray:
        as_float = Image.fromarray(image.astype(np.float32), mode="F")
        return np.asarray(as_float.resize((side, side), Image.Resampling.BILINEAR))

    for patient in range(20):
        source = "CT" if patient < 10 else "MR"
        template = dicoms[source]
        stored = template.pixel_array.astype(np.float32)
        for index in range(3):
            pixels, zoomed = crop(stored)
            values = resized(pixels, template.Rows).round().astype(template.pixel_array.dtype)
            dataset = template.copy()
            if patient % 2:  # MONOCHROME1: stored inverted, to be shown (and read) the same way
                values = (values.max() + values.min() - values).astype(values.dtype)
                dataset.PhotometricInterpretation = "MONOCHROME1"
            dataset.PixelData = values.tobytes()
            dataset.PatientID = f"P{patient:03d}"
            dataset.SOPInstanceUID = pydicom.uid.generate_uid(
                entropy_srcs=[str(seed), str(patient), str(index)]
            )
            path = (
                folder / "scans" / f"P{patient:03d}" / "study1" / "series1" / f"IM{index + 1:04d}"
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            dataset.save_as(path, enforce_file_format=True)
            rows.append((path, source, zoomed, f"P{patient:03d}"))
    for source, image in gray.items():
        for index in range(40):
            pixels, zoomed = crop(image)
            path = folder / "photos" / source.lower() / f"{source.lower()}_{index:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray((resized(pixels, 96).clip(0, 1) * 65535).astype(np.uint16)).save(path)
            rows.append((path, source, zoomed, f"{source[0]}{index // 4:02d}"))
        for index in range(30):
            pixels, zoomed = crop(image)
            path = folder / "flat" / f"{source.lower()}_{index:03d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray((resized(pixels, 96).clip(0, 1) * 255).astype(np.uint8)).save(path)
            rows.append((path, source, zoomed, f"{source[0]}{10 + index // 3:02d}"))
    png = (folder / "photos" / "fundus" / "fundus_000.png").read_bytes()
    (folder / "flat" / "broken.png").write_bytes(png[: len(png) // 3])
    (folder / "flat" / "notes.txt").write_text("Not an image: listed as ignored.\n")
    with (folder / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "findings", "patient"])
        for path, source, zoomed, patient in rows:
            findings = f"{source}|Zoomed" if zoomed else source
            writer.writerow([path.relative_to(folder).as_posix(), findings, patient])
    return folder
