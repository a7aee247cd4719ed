"""Reading medical images and bringing any pixel data to float intensities in [0, 1].

The rules, so nothing is silently clipped or darkened:

- uint8 is divided by 255 and uint16 (16-bit PNG X-rays) by 65535: 16 bits are never cut to 8.
- Other integer types are taken as 8-bit when their values lie in 0..255, as 16-bit when in
  0..65535; anything else (e.g. signed CT values) needs `intensity_scaling="minmax"`.
- Floats must already lie in [0, 1], unless `intensity_scaling="minmax"`.
- `"minmax"` maps each image's own minimum and maximum to 0 and 1.
- A PNG/JPEG/TIFF with an EXIF Orientation is turned as viewers and PACS exports show it.
- DICOM goes through the modality LUT (rescale slope/intercept), then the VOI window or LUT,
  and MONOCHROME1 is inverted so that bright always means dense.

Files are untrusted. Before any pixel is decoded, the size the frame will take as float32 (pixels
x samples per pixel x max(bytes per sample, 4)) is read from the header and checked against
`DECODE_BUDGET`, and the structures that cost before pixels (TIFF strip tables, JPEG scans, a
DICOM frame's own codestream) are checked as `mocoim_hub.decode_budget` says. A DICOM file's other
frames are never decoded, and a deflated DICOM file is inflated only as far as the budget. Whatever
a malformed file makes a decoder raise reaches the caller as one `BadImageError` (a `ValueError`)
that names the file.
"""

from __future__ import annotations

import contextlib
import io
import os
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
import PIL.Image
import torch

from .decode_budget import (
    DECODE_BUDGET,
    BadImageError,
    check_decode_budget,
    check_file_structure,
    check_frame_codestream,
)
from .extras import require

__all__ = [
    "load_image",
    "read_dicom",
    "is_dicom",
    "dicom_patient_id",
    "pil_to_array",
    "scale_intensity",
]

IntensityScaling = Literal["dtype", "minmax"]
INTENSITY_SCALINGS = ("dtype", "minmax")
ImageLike = PIL.Image.Image | np.ndarray | torch.Tensor | str | os.PathLike

# PIL modes that are converted to RGB (or kept as L) before reading their pixels.
_PIL_TO_RGB = {"P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa", "La"}
_ALPHA_MODES = {"RGBA": "RGB", "LA": "L"}
DICOM_SUFFIXES = (".dcm", ".dicom")
_ORIENTATION = 0x0112  # EXIF tag: how the stored pixels are turned for display
_TURNS = {
    2: PIL.Image.Transpose.FLIP_LEFT_RIGHT,
    3: PIL.Image.Transpose.ROTATE_180,
    4: PIL.Image.Transpose.FLIP_TOP_BOTTOM,
    5: PIL.Image.Transpose.TRANSPOSE,
    6: PIL.Image.Transpose.ROTATE_270,
    7: PIL.Image.Transpose.TRANSVERSE,
    8: PIL.Image.Transpose.ROTATE_90,
}


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


def _source_name(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return "<pydicom dataset>" if is_dicom_dataset(source) else "<bytes>"


def is_dicom_dataset(value: Any) -> bool:
    """True for a pydicom `Dataset` (checked without importing pydicom)."""
    return any(
        c.__module__.startswith("pydicom") and c.__name__ == "Dataset" for c in type(value).__mro__
    )


def _open_pil(source: Any, name: str) -> PIL.Image.Image:
    try:
        with contextlib.ExitStack() as stack:
            if not isinstance(source, io.IOBase):  # a path
                source = stack.enter_context(open(source, "rb"))
            check_file_structure(source, name)  # before Pillow reads any table
            image = PIL.Image.open(source)
            width, height = image.size
            samples, sample_bytes = _pil_samples(image.mode)
            check_decode_budget(name, width, height, samples, sample_bytes)  # before decoding
            image.load()
        # As viewers and PACS exports show it. Pillow turns a TIFF itself on load (and drops the
        # tag), so only what is still tagged after load() is turned here.
        orientation = _exif_orientation(image)
        if orientation in _TURNS:
            image = image.transpose(_TURNS[orientation])
        image.filename = name  # for messages: opened from a stream, it has none
    except BadImageError:
        raise
    except Exception as err:  # decoders raise many types for malformed files
        raise BadImageError(f"Could not decode {name} as an image ({_describe(err)}).") from err
    return image


def _exif_orientation(image: PIL.Image.Image) -> int:
    """The EXIF Orientation tag (1 = as stored); unreadable EXIF counts as 1, as viewers take it."""
    try:
        orientation = image.getexif().get(_ORIENTATION, 1)
    except Exception:  # a malformed EXIF block leaves the pixels readable
        return 1
    return orientation if isinstance(orientation, int) else 1


def _pil_samples(mode: str) -> tuple[int, int]:
    """Samples per pixel and bytes per sample of a PIL mode, after `pil_to_array`'s conversions."""
    if mode in _PIL_TO_RGB:
        return 4, 1
    sample_bytes = 2 if mode.startswith("I;16") else 4 if mode in ("I", "F") else 1
    return PIL.Image.getmodebands(mode), sample_bytes


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def _import_pydicom():
    require("Reading DICOM files", "pydicom")
    import pydicom
    import pydicom.pixels

    return pydicom


def read_dicom(source: str | os.PathLike | io.BytesIO | Any, frame: int = 0) -> np.ndarray:
    """Read one frame of a DICOM file or pydicom dataset as float32 in [0, 1] (grayscale HxW, or
    colour HxWx3). Only that frame is decoded, after its size is checked against `DECODE_BUDGET`.

    The modality LUT is applied first; then the first VOI window (centre/width) when the file has
    one, else its VOI LUT, else the frame's own min..max; MONOCHROME1 is inverted.
    """
    pydicom = _import_pydicom()
    name = _source_name(source)
    try:
        return _read_dicom_frame(pydicom, source, name, frame)
    except BadImageError:
        raise
    except Exception as err:  # pydicom and numpy raise many types for malformed files
        raise BadImageError(f"Could not read DICOM {name} ({_describe(err)}).") from err


def _read_dicom_frame(pydicom, source: Any, name: str, frame: int) -> np.ndarray:
    if is_dicom_dataset(source):
        return _decode_frame(pydicom, source, source, name, frame)
    with contextlib.ExitStack() as stack:
        if not isinstance(source, io.IOBase):  # a path: read from the file, one frame of it
            source = stack.enter_context(open(source, "rb"))
        syntax = _transfer_syntax(pydicom, source, name)
        if syntax.is_deflated or syntax.is_compressed:
            # decoded from the dataset in memory (pydicom's file reader of encapsulated frames is
            # stricter); its bytes are at most the compressed file or the inflation budget
            dataset = pydicom.dcmread(source)
            return _decode_frame(pydicom, dataset, dataset, name, frame)
        header = pydicom.dcmread(source, stop_before_pixels=True)
        source.seek(0)
        return _decode_frame(pydicom, source, header, name, frame)


def _decode_frame(pydicom, source: Any, header: Any, name: str, frame: int) -> np.ndarray:
    if "Rows" not in header or "Columns" not in header:
        raise BadImageError(f"{name} holds no image (it has no Rows/Columns; e.g. a report).")
    frames = int(header.get("NumberOfFrames", 1) or 1)
    if not 0 <= frame < frames:
        raise BadImageError(f"frame must be in 0..{frames - 1} for {name}, got {frame}.")
    samples = int(header.get("SamplesPerPixel", 1) or 1)
    check_decode_budget(
        name, int(header.Columns), int(header.Rows), samples, -(-int(header.BitsAllocated) // 8)
    )
    if _is_encapsulated(header):
        extended = None
        if "ExtendedOffsetTable" in source:
            extended = (source.ExtendedOffsetTable, source.ExtendedOffsetTableLengths)
        data = pydicom.encaps.get_frame(
            source.PixelData, frame, number_of_frames=frames, extended_offsets=extended
        )
        check_frame_codestream(data, name, int(header.Columns), int(header.Rows), samples)
    pixels = pydicom.pixels.pixel_array(source, index=frame, raw=True)
    photometric = str(header.get("PhotometricInterpretation", "MONOCHROME2"))
    if not photometric.startswith("MONOCHROME"):
        return _dicom_colour(pydicom, pixels, photometric, name)
    values = _window(_modality_values(pixels, header, name), header, name)
    if photometric == "MONOCHROME1":
        np.subtract(1.0, values, out=values)
    return values


def _is_encapsulated(header: Any) -> bool:
    """True when the pixel data are compressed frames (JPEG, JPEG-LS, JPEG 2000, RLE, ...)."""
    syntax = getattr(getattr(header, "file_meta", None), "TransferSyntaxUID", None)
    return syntax is not None and syntax.is_encapsulated


def dicom_patient_id(path: str | os.PathLike) -> str | None:
    """The `PatientID` of a DICOM file's header (no pixel is read), None when it has none or the
    header cannot be read (the file's problem is then reported when its pixels are)."""
    pydicom = _import_pydicom()
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["PatientID"])
    except Exception:  # pydicom raises many types for malformed files
        return None
    return str(header.get("PatientID", "") or "").strip() or None


def _transfer_syntax(pydicom, stream: BinaryIO, name: str):
    """The file's transfer syntax, read from its meta header. pydicom inflates a deflated dataset
    whole, so such a file is inflated here first, a chunk at a time and keeping nothing: one that
    inflates past the budget is refused."""
    pydicom.filereader.read_preamble(stream, False)
    meta = pydicom.filereader._read_file_meta_info(stream)
    syntax = pydicom.uid.UID(meta.get("TransferSyntaxUID") or pydicom.uid.ImplicitVRLittleEndian)
    if syntax.is_deflated:
        inflater, size = zlib.decompressobj(-zlib.MAX_WBITS), 0
        data = stream.read()
        while data and size <= DECODE_BUDGET:
            size += len(inflater.decompress(data, 2**20))
            data = inflater.unconsumed_tail
        if size > DECODE_BUDGET:
            raise BadImageError(
                f"{name} is a deflated DICOM file that inflates to over the decode budget of "
                f"{DECODE_BUDGET // 2**20} MiB (mocoim_hub.decode_budget.DECODE_BUDGET)."
            )
    stream.seek(0)
    return syntax


def _modality_values(pixels: np.ndarray, header: Any, name: str) -> np.ndarray:
    """Stored values through the rescale slope/intercept (or modality LUT), as float32."""
    if "ModalityLUTSequence" in header:
        return _import_pydicom().pixels.apply_modality_lut(pixels, header).astype(np.float32)
    values = pixels.astype(np.float32)
    slope = float(header.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(header.get("RescaleIntercept", 0.0) or 0.0)
    if slope != 1.0:
        values *= np.float32(slope)
    if intercept != 0.0:
        values += np.float32(intercept)
    _require_finite(values, name, "RescaleSlope/RescaleIntercept")
    return values


def _window(values: np.ndarray, header: Any, name: str) -> np.ndarray:
    """The first VOI window (in place), else the VOI LUT, else the frame's own range."""
    if "WindowCenter" in header and "WindowWidth" in header:
        center = float(np.ravel(header.WindowCenter)[0])
        width = max(float(np.ravel(header.WindowWidth)[0]), 1.0)
        values -= np.float32(center - width / 2)
        values /= np.float32(width)
        _require_finite(values, name, "WindowCenter/WindowWidth")
        return np.clip(values, 0.0, 1.0, out=values)
    if "VOILUTSequence" in header:
        values = _import_pydicom().pixels.apply_voi_lut(values, header).astype(np.float32)
    return scale_intensity(values, "minmax")


def _dicom_colour(pydicom, pixels: np.ndarray, photometric: str, name: str) -> np.ndarray:
    if pixels.ndim != 3 or photometric not in ("RGB", "YBR_FULL", "YBR_FULL_422"):
        raise BadImageError(
            f"{name} has PhotometricInterpretation {photometric!r} with pixels of shape "
            f"{pixels.shape}; supported are MONOCHROME1/2, RGB, YBR_FULL and YBR_FULL_422."
        )
    if photometric != "RGB":
        pixels = pydicom.pixels.convert_color_space(pixels, photometric, "RGB")
    return scale_intensity(pixels, "dtype")


def _require_finite(values: np.ndarray, name: str, fields: str) -> None:
    if not np.isfinite(values).all():
        raise BadImageError(f"{name}: its {fields} turn the pixels into NaN or infinity.")


def pil_to_array(image: PIL.Image.Image) -> np.ndarray:
    """Pixels of a PIL image of any mode as HxW or HxWxC, alpha dropped, 16-bit kept."""
    try:
        mode = image.mode
        if mode in _PIL_TO_RGB:
            image = image.convert("RGBA" if "A" in mode or "a" in mode else "RGB")
            mode = image.mode
        if mode in _ALPHA_MODES:
            image = image.convert(_ALPHA_MODES[mode])
        array = np.array(image)  # writable; "1" gives bool, "I;16" uint16, "I" int32, "F" float32
    except Exception as err:  # a file whose header decoded but whose mode or data cannot convert
        name = getattr(image, "filename", "") or "the image"
        raise BadImageError(
            f"Could not convert {name} (mode {image.mode}) to pixels ({_describe(err)})."
        ) from err
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
    values = array.astype(np.float32)
    values /= np.float32(_integer_range(array))
    return values


def _minmax(array: np.ndarray) -> np.ndarray:
    low, high = float(array.min()), float(array.max())
    if not high > low:
        return np.zeros(array.shape, dtype=np.float32)
    values = array.astype(np.float64)  # float64 and in place: exact for int32, a copy at a time
    scale = max(abs(low), abs(high))  # dividing first keeps ranges near the float limits finite
    values /= scale
    values -= low / scale
    values /= high / scale - low / scale
    return np.clip(values, 0.0, 1.0, out=values).astype(np.float32)


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
