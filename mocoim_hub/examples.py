"""Real medical images shipped by installed packages, for examples, demos and tests (no downloads).

- `retina`: fundus photograph, scikit-image `data.retina()` (CC0), RGB.
- `immunohistochemistry`: colon tissue, scikit-image `data.immunohistochemistry()` (public
  domain), RGB.
- `ct`: a CT slice, pydicom's test file `CT_small.dcm` (its licence: pydicom's test-data notes),
  read with `read_dicom`, float in [0, 1].
"""

from __future__ import annotations

import numpy as np

from .imaging import read_dicom

EXAMPLE_NAMES = ("retina", "immunohistochemistry", "ct")


def example_images() -> dict[str, np.ndarray]:
    """The example images by name (needs scikit-image and pydicom: the `app` or `dev` extra)."""
    try:
        from pydicom.data import get_testdata_file
        from skimage import data
    except ImportError as err:
        raise ImportError(
            "The example images need scikit-image and pydicom: pip install 'mocoim_hub[app]'"
        ) from err
    return {
        "retina": data.retina(),
        "immunohistochemistry": data.immunohistochemistry(),
        "ct": read_dicom(get_testdata_file("CT_small.dcm")),
    }
