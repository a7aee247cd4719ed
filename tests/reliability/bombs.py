"""Small files that declare huge images: the decompression bombs of the hostile-file probe, written
a chunk at a time so that making them takes little memory."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import PIL.Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    RLELossless,
    generate_uid,
)

_CHUNK = 2**24


def _header(rows: int, columns: int, frames: int, syntax: str) -> tuple[FileMetaDataset, Dataset]:
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = syntax
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, generate_uid()
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, columns, frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.WindowCenter, ds.WindowWidth = 32768, 65536
    ds.RescaleSlope, ds.RescaleIntercept = 1, 0
    return meta, ds


def _preamble_and_meta(meta: FileMetaDataset) -> bytes:
    buffer = io.BytesIO()
    buffer.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(buffer, meta, enforce_standard=True)
    return buffer.getvalue()


def _body_header(ds: Dataset) -> bytes:
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_dataset(buffer, ds)
    return buffer.getvalue()


def deflated_dicom(path: Path, rows: int, columns: int, frames: int) -> Path:
    """A Deflated Explicit VR file whose zero pixels inflate to rows x columns x frames x 2 bytes."""
    meta, ds = _header(rows, columns, frames, DeflatedExplicitVRLittleEndian)
    size = rows * columns * frames * 2
    pixel_element = struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, size)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    with open(path, "wb") as out:
        out.write(_preamble_and_meta(meta))
        out.write(deflater.compress(_body_header(ds) + pixel_element))
        zeros = bytes(_CHUNK)
        for start in range(0, size, _CHUNK):
            out.write(deflater.compress(zeros[: min(_CHUNK, size - start)]))
        out.write(deflater.flush())
    return path


def _rle_frame(rows: int, columns: int) -> bytes:
    """One all-zero 16-bit frame, RLE Lossless: two byte planes of 128-byte runs."""
    plane = rows * columns
    runs, rest = divmod(plane, 128)
    segment = b"\x81\x00" * runs + (bytes([257 - rest, 0]) if rest > 1 else b"\x00\x00" * rest)
    segment += b"\x00" * (len(segment) % 2)
    header = struct.pack("<16I", 2, 64, 64 + len(segment), *([0] * 13))
    return header + segment + segment


def rle_dicom(path: Path, rows: int, columns: int, frames: int) -> Path:
    """An RLE Lossless multi-frame file of zero pixels (encapsulated, one fragment per frame)."""
    meta, ds = _header(rows, columns, frames, RLELossless)
    frame = _rle_frame(rows, columns)
    item = struct.pack("<HHI", 0xFFFE, 0xE000, len(frame)) + frame
    with open(path, "wb") as out:
        out.write(_preamble_and_meta(meta))
        out.write(_body_header(ds))
        out.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF))
        out.write(struct.pack("<HHI", 0xFFFE, 0xE000, 0))  # empty basic offset table
        for _ in range(frames):
            out.write(item)
        out.write(struct.pack("<HHI", 0xFFFE, 0xE0DD, 0))
    return path


def native_dicom(path: Path, rows: int, columns: int, frames: int = 1) -> Path:
    """An uncompressed file of a 16-bit ramp, the plain size a scanner writes."""
    meta, ds = _header(rows, columns, frames, ExplicitVRLittleEndian)
    ramp = (np.arange(rows * columns, dtype=np.uint64) % 65536).astype("<u2").tobytes()
    with open(path, "wb") as out:
        out.write(_preamble_and_meta(meta))
        out.write(_body_header(ds))
        out.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, len(ramp) * frames))
        for _ in range(frames):
            out.write(ramp)
    return path


def pil_file(path: Path, side: int, mode: str, **options) -> Path:
    """A side x side image of zeros in a PIL mode ("I;16" PNG, "I" TIFF, "L"/"RGB" JPEG, ...)."""
    dtype = {"I;16": np.uint16, "I": np.int32, "F": np.float32}.get(mode, np.uint8)
    shape = (side, side, 3) if mode == "RGB" else (side, side)
    PIL.Image.fromarray(np.zeros(shape, dtype)).save(path, **options)
    return path


def _jpeg(image: PIL.Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def _with_frame_size(jpeg: bytes, width: int, height: int) -> bytes:
    """The same JPEG with its frame header (SOF) declaring another size: decoders allocate it and
    fill what the data do not cover."""
    out, at = bytearray(jpeg), 2
    while out[at + 1] not in (0xC0, 0xC1, 0xC2):
        at += 2 + struct.unpack(">H", out[at + 2 : at + 4])[0]
    out[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(out)


def jpeg_dicom(path: Path, rows: int, columns: int, side: int) -> Path:
    """A JPEG Baseline DICOM whose header says rows x columns but whose frame's own header says
    side x side (a 16x16 JPEG with its SOF rewritten)."""
    meta, ds = _header(rows, columns, 1, JPEGBaseline8Bit)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    del ds.NumberOfFrames
    frame = _with_frame_size(_jpeg(PIL.Image.new("L", (16, 16))), side, side)
    with open(path, "wb") as out:
        out.write(_preamble_and_meta(meta))
        out.write(_body_header(ds))
        out.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF))
        out.write(encapsulate([frame]))
        out.write(struct.pack("<HHI", 0xFFFE, 0xE0DD, 0))
    return path


def progressive_jpeg(path: Path, side: int, scans: int) -> Path:
    """A progressive JPEG declaring side x side pixels whose last scan is repeated to `scans`
    scans: each costs libjpeg a pass over the whole image though it holds a few bytes."""
    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    data = _with_frame_size(_jpeg(PIL.Image.fromarray(rgb), progressive=True), side, side)
    last = data.rindex(b"\xff\xda")
    repeated = data[last:-2] * (scans - data.count(b"\xff\xda") + 1)
    path.write_bytes(data[:last] + repeated + b"\xff\xd9")
    return path


def strip_tiff(path: Path, strips: int) -> Path:
    """A 1-pixel-wide 8-bit TIFF of `strips` rows, one row per strip: tables of 16-bit offsets and
    byte counts, 4 bytes a strip, every strip the file's first byte."""
    entries = [(256, 3, 1, 1), (257, 4, 1, strips), (258, 3, 1, 8), (259, 3, 1, 1),
               (262, 3, 1, 1), (273, 3, strips, 0), (277, 3, 1, 1), (278, 4, 1, 1),
               (279, 3, strips, 0)]  # fmt: skip
    tables = 8 + 2 + 12 * len(entries) + 4
    with open(path, "wb") as out:
        out.write(b"II*\x00" + struct.pack("<IH", 8, len(entries)))
        for tag, kind, count, value in entries:
            value = {273: tables, 279: tables + 2 * strips}.get(tag, value)
            packed = (
                struct.pack("<HH", value, 0)
                if kind == 3 and count == 1
                else struct.pack("<I", value)
            )
            out.write(struct.pack("<HHI", tag, kind, count) + packed)
        out.write(bytes(4))
        out.write(struct.pack(f"<{strips}H", *[0] * strips))
        out.write(struct.pack(f"<{strips}H", *[1] * strips))
    return path
