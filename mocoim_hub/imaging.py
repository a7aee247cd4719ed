"""Reading medical images and bringing any pixel data to float intensities in [0, 1].

The rules, so nothing is silently clipped or darkened:

- uint8 is divided by 255 and uint16 (16-bit PNG X-rays) by 65535: 16 bits are never cut to 8.
- Other integer types are taken as 8-bit when their values lie in 0..255, as 16-bit when in
  0..65535; anything else (e.g. signed CT values) needs `intensity_scaling="minmax"`.
- Floats must already lie in [0, 1], unless `intensity_scaling="minmax"`.
- `"minmax"` maps each image's own minimum and maximum to 0 and 1.
- DICOM goes through the modality LUT (rescale slope/intercept), then the VOI window or LUT,
  and MONOCHROME1 is inverted so that bright always means dense.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import PIL.Image
import torch

from .extras import require

IntensityScaling = Literal["dtype", "minmax"]
INTENSITY_SCALINGS = ("dtype", "minmax")
ImageLike = PIL.Image.Image | np.ndarray | torch.Tensor | str | os.PathLike

# PIL modes that are converted to RGB (or kept as L) before reading their pixels.
_PIL_TO_RGB = {"P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa", "La"}
_ALPHA_MODES = {"RGBA": "RGB", "LA": "L"}
DICOM_SUFFIXES = (".dcm", ".dicom")
MAX_PIXELS = 16384 * 16384  # larger "images" are treated as decompression bombs


def is_dicom(path: str | os.PathLike) -> bool:
    """True for a `.dcm`/`.dicom` name or a file with the DICM magic at byte 128."""
    if str(path).lower().endswith(DICOM_SUFFIXES):
        return True
    with open(path, "rb") as handle:
        handle.seek(128)
        return handle.read(4) == b"DICM"


def load_image(source: str | os.PathLike | bytes, frame: int = 0) -> PIL.Image.Image | np.ndarray:
    """Open a PNG/JPEG/TIFF/... file (16-bit kept) as PIL, or a DICOM file (or a pydicom dataset
    already read) as float32 in [0, 1]."""
    if is_dicom_dataset(source):
        return read_dicom(source, frame=frame)
    if isinstance(source, bytes):
        if source[128:132] == b"DICM":
            return read_dicom(io.BytesIO(source), frame=frame)
        return _open_pil(io.BytesIO(source), "<bytes>")
    if not Path(source).is_file():
        raise FileNotFoundError(f"No image file at {os.fspath(source)!r}.")
    if is_dicom(source):
        return read_dicom(source, frame=frame)
    return _open_pil(source, os.fspath(source))


def is_dicom_dataset(value: Any) -> bool:
    """True for a pydicom `Dataset` (checked without importing pydicom)."""
    return any(
        c.__module__.startswith("pydicom") and c.__name__ == "Dataset" for c in type(value).__mro__
    )


def _open_pil(source: Any, name: str) -> PIL.Image.Image:
    try:
        image = PIL.Image.open(source)
        pixels = image.size[0] * image.size[1]
        if pixels > MAX_PIXELS:  # checked before decoding: a bomb never reaches memory
            raise ValueError(
                f"{name} has {image.size[0]}x{image.size[1]} pixels, over the limit of {MAX_PIXELS}."
            )
        image.load()
    except (
        PIL.UnidentifiedImageError,
        PIL.Image.DecompressionBombError,
        OSError,
        SyntaxError,
    ) as err:
        raise ValueError(f"Could not decode {name} as an image ({err}).") from err
    return image


def _import_pydicom():
    require("Reading DICOM files", "pydicom")
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    return pydicom, apply_modality_lut, apply_voi_lut


def read_dicom(source: str | os.PathLike | io.BytesIO | Any, frame: int = 0) -> np.ndarray:
    """Read one frame of a DICOM file or pydicom dataset as float32 in [0, 1] (grayscale HxW, or
    colour HxWx3).

    The modality LUT is applied first; then the first VOI window (centre/width) when the file has
    one, else its VOI LUT, else the frame's own min..max; MONOCHROME1 is inverted.
    """
    pydicom, apply_modality_lut, apply_voi_lut = _import_pydicom()
    try:
        dataset = source if is_dicom_dataset(source) else pydicom.dcmread(source)
        pixels = dataset.pixel_array
    except Exception as err:  # pydicom raises many types for malformed files
        raise ValueError(f"Could not read DICOM pixel data ({type(err).__name__}: {err}).") from err
    frames = int(getattr(dataset, "NumberOfFrames", 1) or 1)
    if frames > 1:
        if not 0 <= frame < frames:
            raise ValueError(f"frame must be in 0..{frames - 1} for this file, got {frame}.")
        pixels = pixels[frame]
    photometric = str(getattr(dataset, "PhotometricInterpretation", "MONOCHROME2"))
    if not photometric.startswith("MONOCHROME"):
        if pixels.ndim != 3 or photometric not in ("RGB", "YBR_FULL", "YBR_FULL_422"):
            raise ValueError(f"Unsupported DICOM PhotometricInterpretation {photometric!r}.")
        if photometric != "RGB":
            pixels = pydicom.pixels.convert_color_space(pixels, photometric, "RGB")
        return scale_intensity(pixels, "dtype")
    values = apply_modality_lut(pixels, dataset).astype(np.float32)
    if "WindowCenter" in dataset and "WindowWidth" in dataset:
        center = float(np.ravel(dataset.WindowCenter)[0])
        width = max(float(np.ravel(dataset.WindowWidth)[0]), 1.0)
        values = np.clip((values - (center - width / 2)) / width, 0.0, 1.0)
    else:
        if "VOILUTSequence" in dataset:
            values = apply_voi_lut(values, dataset).astype(np.float32)
        values = scale_intensity(values, "minmax")
    if photometric == "MONOCHROME1":
        values = 1.0 - values
    return values.astype(np.float32)


def pil_to_array(image: PIL.Image.Image) -> np.ndarray:
    """Pixels of a PIL image of any mode as HxW or HxWxC, alpha dropped, 16-bit kept."""
    mode = image.mode
    if mode in _PIL_TO_RGB:
        image = image.convert("RGBA" if "A" in mode or "a" in mode else "RGB")
        mode = image.mode
    if mode in _ALPHA_MODES:
        image = image.convert(_ALPHA_MODES[mode])
    array = np.array(image)  # writable; mode "1" gives bool, "I;16" uint16, "I" int32, "F" float32
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("="))
    return array


def scale_intensity(array: np.ndarray, intensity_scaling: IntensityScaling = "dtype") -> np.ndarray:
    """Map pixel values to float32 in [0, 1] by the rules in this module's docstring."""
    if intensity_scaling not in INTENSITY_SCALINGS:
        raise ValueError(
            f"Unknown intensity_scaling {intensity_scaling!r}; expected one of "
            f"{', '.join(INTENSITY_SCALINGS)}."
        )
    if array.size == 0:
        raise ValueError(
            f"Expected an image with pixels but got an empty array of shape {array.shape}."
        )
    kind = array.dtype.kind
    if kind not in "biuf":
        raise ValueError(f"Expected numeric pixel data but got dtype {array.dtype}.")
    if kind == "f" and not np.isfinite(array).all():
        raise ValueError(
            "The image contains NaN or infinite values; replace them before processing."
        )
    if intensity_scaling == "minmax":
        return _minmax(array)
    if kind == "b":
        return array.astype(np.float32)
    if kind == "f":
        low, high = float(array.min()), float(array.max())
        if low < 0.0 or high > 1.0:
            raise ValueError(
                f"Float images must lie in [0, 1] with intensity_scaling='dtype', but this one spans "
                f"[{low:.4g}, {high:.4g}]. Rescale it, or use intensity_scaling='minmax'."
            )
        return array.astype(np.float32)
    return array.astype(np.float32) / _integer_range(array)


def _minmax(array: np.ndarray) -> np.ndarray:
    values = array.astype(np.float64)
    low, high = values.min(), values.max()
    if not high > low:
        return np.zeros(array.shape, dtype=np.float32)
    scale = max(abs(low), abs(high))  # dividing first keeps ranges near the float limits finite
    values, low, high = values / scale, low / scale, high / scale
    return np.clip((values - low) / (high - low), 0.0, 1.0).astype(np.float32)


def _integer_range(array: np.ndarray) -> float:
    if array.dtype == np.uint8:
        return 255.0
    if array.dtype == np.uint16:
        return 65535.0
    low, high = int(array.min()), int(array.max())
    if low >= 0 and high <= 255:
        return 255.0
    if low >= 0 and high <= 65535:
        return 65535.0
    raise ValueError(
        f"Integer pixel values in [{low}, {high}] ({array.dtype}) fit neither 8 nor 16 bits; use "
        "intensity_scaling='minmax' (or read DICOM files with their window through load_image)."
    )
