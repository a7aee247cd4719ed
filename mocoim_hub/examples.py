"""Real medical images shipped by installed packages, for examples, demos and tests (no downloads).

- `retina`: fundus photograph, scikit-image `data.retina()` (CC0), RGB.
- `immunohistochemistry`: colon tissue, scikit-image `data.immunohistochemistry()` (public
  domain), RGB.
- `ct`: a CT slice, pydicom's test file `CT_small.dcm` (its licence: pydicom's test-data notes),
  read with `read_dicom`, float in [0, 1].
"""

from __future__ import annotations

import os
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


def example_files(folder: str | os.PathLike | None = None) -> dict[str, Path]:
    """The example images as files a user would upload: retina and immunohistochemistry as PNG,
    the CT slice as pydicom's original DICOM file, and two images of the embedded dataset."""
    require("The example images", "skimage", "pydicom")
    from PIL import Image
    from pydicom.data import get_testdata_file
    from skimage import data

    from .data.default import load_default_dataset

    folder = Path(folder or Path(tempfile.gettempdir()) / "mocoim_hub_examples")
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
