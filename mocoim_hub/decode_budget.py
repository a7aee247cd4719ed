"""What decoding one untrusted file may cost, and the checks that hold it to that before any decoder
runs.

- Pixels: a frame may take at most `DECODE_BUDGET` bytes as float32, judged from what the file
  declares: the header's size, and for a compressed DICOM frame what its JPEG or JPEG 2000
  codestream declares, which must match the header (the decoder allocates what the codestream
  says).
- Work before pixels: a TIFF may list at most `MAX_TIFF_BLOCKS` strips or tiles (Pillow builds a
  Python object per block before reading a pixel), and a JPEG may hold at most `MAX_JPEG_SCANS`
  scans (libjpeg passes over the whole image once per scan, however little data the scan holds).

These are read from the files' own tables and markers, in time linear in the file's size.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import BinaryIO

__all__ = [
    "DECODE_BUDGET",
    "MAX_TIFF_BLOCKS",
    "MAX_JPEG_SCANS",
    "BadImageError",
    "Codestream",
    "check_decode_budget",
    "check_file_structure",
    "check_frame_codestream",
]

DECODE_BUDGET = 256 * 2**20
"""Bytes one decoded frame may take as float32: 64 M samples, e.g. 8192 x 8192 grayscale or
4729 x 4729 RGB, several times the largest mammogram. `load_image` + processor then add at most
~0.8 GB (measured by tests/reliability/test_hostile_files.py)."""
MAX_TIFF_BLOCKS = 2**15
"""Strips or tiles a TIFF may list. An 8192-row image stored a row per strip, 4 samples in planes
of their own, has 32768 strips; Pillow sets up 32768 in 0.25 s here, one million in 10 s and
320 MB."""
MAX_JPEG_SCANS = 100
"""Scans a JPEG may hold. Encoders write 6 (gray) or 10 (colour) for a progressive JPEG; a
sequential one has one per component at most."""
_FLOAT_BYTES = 4


class BadImageError(ValueError):
    """A file that cannot be read as an image, or would cost more to decode than this module
    allows."""


def check_decode_budget(name: str, width: int, height: int, samples: int, bytes_per_sample: int):
    """Refuse, from header values alone, a frame that would take more than `DECODE_BUDGET`."""
    size = width * height * samples * max(bytes_per_sample, _FLOAT_BYTES)
    if size > DECODE_BUDGET:
        raise BadImageError(
            f"{name} declares a {width}x{height} image with {samples} sample(s) of "
            f"{bytes_per_sample} byte(s) per pixel: {size / 2**20:.0f} MiB once decoded to float32, "
            f"over the decode budget of {DECODE_BUDGET // 2**20} MiB "
            f"(mocoim_hub.decode_budget.DECODE_BUDGET). Downscale the image before loading it."
        )


def check_file_structure(stream: BinaryIO, name: str) -> None:
    """Refuse a TIFF with too many strips/tiles or a JPEG with too many scans; other formats pass.
    Reads from the stream's start and leaves it there."""
    start = stream.read(4)
    stream.seek(0)
    if start[:2] in (b"II", b"MM") and start[2:4] in (b"*\0", b"\0*", b"+\0", b"\0+"):
        _check_tiff_blocks(stream, name)
    elif start[:3] == b"\xff\xd8\xff":
        _jpeg_layout(stream.read(), name)
    stream.seek(0)


@dataclass(frozen=True)
class Codestream:
    """What a compressed frame declares: the image its decoder will allocate."""

    kind: str
    width: int
    height: int
    samples: int


def check_frame_codestream(data: bytes, name: str, width: int, height: int, samples: int) -> None:
    """Refuse a DICOM frame whose JPEG / JPEG-LS / JPEG 2000 codestream declares another image than
    the header's `width` x `height` x `samples` (an attacker's 64x64 header can carry a 12000x12000
    codestream), or a JPEG with too many scans. Other data (RLE) is sized by the header itself."""
    stream = _codestream(data, name)  # the header's size has passed the budget: equal is within it
    declared = (width, height, samples)
    if stream is not None and (stream.width, stream.height, stream.samples) != declared:
        raise BadImageError(
            f"{name}: its {stream.kind} frame declares a {stream.width}x{stream.height} image with "
            f"{stream.samples} sample(s) per pixel, but its header says {width}x{height} with "
            f"{samples}. The file is corrupt or crafted; re-export it from the source system."
        )


def _codestream(data: bytes, name: str) -> Codestream | None:
    if data[:2] == b"\xff\xd8":
        return _jpeg_layout(data, name)
    if data[:4] == b"\xff\x4f\xff\x51":
        return _j2k_size(data, name)
    if data[4:8] == b"jP  ":  # a JP2 file: its header box says the size
        at = data.find(b"ihdr")
        if at < 0 or len(data) < at + 14:
            raise BadImageError(f"{name}: its JPEG 2000 frame has no image header box.")
        height, width, samples = struct.unpack(">IIH", data[at + 4 : at + 14])
        return Codestream("JPEG 2000", width, height, samples)
    return None


def _j2k_size(data: bytes, name: str) -> Codestream:
    """The SIZ segment, which must follow the 2-byte start-of-codestream marker."""
    if len(data) < 42:
        raise BadImageError(f"{name}: its JPEG 2000 frame ends inside its size segment.")
    width, height, x0, y0 = struct.unpack(">IIII", data[8:24])
    (samples,) = struct.unpack(">H", data[40:42])
    return Codestream("JPEG 2000", max(width - x0, 0), max(height - y0, 0), samples)


# A marker inside entropy-coded data: 0xFF followed by neither a stuffed 0x00, a restart marker
# (0xD0-0xD7) nor a fill byte.
_ENTROPY_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_SOF = {*range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC} | {0xF7}  # frame headers, with JPEG-LS's SOF55


def _jpeg_layout(data: bytes, name: str) -> Codestream | None:
    """Walk the marker segments of a JPEG (or JPEG-LS) stream: its frame size and scan count.
    A stream that is malformed is left to the decoder, which reports it; None without a frame."""
    frame, scans, at = None, 0, 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        if marker == 0xD9:  # end of image
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if marker in _SOF and frame is None and length >= 8 and at + 10 <= len(data):
            height, width, samples = struct.unpack(">HHB", data[at + 5 : at + 10])
            frame = Codestream("JPEG-LS" if marker == 0xF7 else "JPEG", width, height, samples)
        at += 2 + length
        if marker == 0xDA:
            scans += 1
            if scans > MAX_JPEG_SCANS:
                raise BadImageError(
                    f"{name} is a JPEG with more than {MAX_JPEG_SCANS} scans "
                    f"(mocoim_hub.decode_budget.MAX_JPEG_SCANS); encoders write at most about "
                    f"ten, and each scan costs a pass over the whole image. Re-encode it."
                )
            found = _ENTROPY_MARKER.search(data, at)
            if found is None:
                break
            at = found.start()
    return frame


_STRIP_OFFSETS, _TILE_OFFSETS = 273, 324


def _check_tiff_blocks(stream: BinaryIO, name: str) -> None:
    """The first directory's StripOffsets/TileOffsets counts, read from its 12-byte (BigTIFF:
    20-byte) entries without reading any table."""
    header = stream.read(16)
    order = "<" if header[:2] == b"II" else ">"
    big = header[2:4] in (b"+\0", b"\0+")
    if big:
        (offset,) = struct.unpack(order + "Q", header[8:16])
        count, entry, entry_size = struct.Struct(order + "Q"), struct.Struct(order + "HHQ"), 20
    else:
        (offset,) = struct.unpack(order + "I", header[4:8])
        count, entry, entry_size = struct.Struct(order + "H"), struct.Struct(order + "HHI"), 12
    stream.seek(offset)
    raw = stream.read(count.size)
    if len(raw) < count.size:
        return  # no directory where the header says: Pillow reports it
    table = stream.read(min(count.unpack(raw)[0], 2**16) * entry_size)
    for at in range(0, len(table) - entry_size + 1, entry_size):
        tag, _, values = entry.unpack_from(table, at)
        if tag in (_STRIP_OFFSETS, _TILE_OFFSETS) and values > MAX_TIFF_BLOCKS:
            kind = "strips" if tag == _STRIP_OFFSETS else "tiles"
            raise BadImageError(
                f"{name} is a TIFF of {values:,} {kind}, over the limit of {MAX_TIFF_BLOCKS:,} "
                f"(mocoim_hub.decode_budget.MAX_TIFF_BLOCKS): setting them up alone would take "
                f"seconds and hundreds of MB. Re-save it with larger {kind}."
            )
