"""Seeded mutation fuzzing of image decoding: valid small PNG/JPEG/TIFF/DICOM files, mutated the way
broken transfers and hostile uploads mutate them, fed to `load_image` and the processor's pixel
conversion. The only exception any of them may raise is ValueError.

Run alone for bigger campaigns: `python tests/reliability/fuzz.py 200000`.
"""

from __future__ import annotations

import io
import random
import struct
import sys
import warnings
from collections import Counter
from collections.abc import Callable

import numpy as np
import PIL.Image

from mocoim_hub.image_processing_mocoim import to_channels_first_tensor
from mocoim_hub.imaging import load_image

FORMATS = ("png", "jpeg", "tiff", "dicom")
INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def _pil_bytes(image: PIL.Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def _pil_seeds(format: str, rng: np.random.Generator) -> list[bytes]:
    gray = PIL.Image.fromarray(rng.integers(0, 256, (20, 24), dtype=np.uint8))
    rgb = PIL.Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8))
    wide = PIL.Image.fromarray(rng.integers(0, 65536, (20, 24), dtype=np.uint16))
    if format == "png":
        return [_pil_bytes(image, "PNG") for image in (
            gray, rgb, wide, rgb.convert("RGBA"), rgb.convert("P"), gray.convert("1"),
            gray.convert("LA"),
        )]  # fmt: skip
    if format == "jpeg":
        return [_pil_bytes(gray, "JPEG"), _pil_bytes(rgb, "JPEG", progressive=True),
                _pil_bytes(gray, "JPEG", progressive=True),
                _pil_bytes(rgb, "JPEG", progressive=True, restart_marker_blocks=1),
                _pil_bytes(rgb.convert("CMYK"), "JPEG")]  # fmt: skip
    int32 = PIL.Image.fromarray(rng.integers(0, 2**16, (20, 24), dtype=np.int32))
    floats = PIL.Image.fromarray(rng.random((20, 24), dtype=np.float32))
    return [
        _pil_bytes(wide, "TIFF"),
        _pil_bytes(int32, "TIFF", compression="tiff_deflate"),
        _pil_bytes(floats, "TIFF"),
        _pil_bytes(rgb, "TIFF", compression="tiff_lzw"),
        _pil_bytes(gray, "TIFF", compression="packbits"),
        _pil_bytes(gray, "TIFF", compression="tiff_adobe_deflate", strip_size=48),  # 10 strips
        tiled_tiff(rng.integers(0, 256, (32, 48), dtype=np.uint8)),
    ]


def tiled_tiff(pixels: np.ndarray, tile: int = 16) -> bytes:
    """An uncompressed 8-bit TIFF in tile x tile tiles (Pillow writes none): tile tables to fuzz."""
    height, width = pixels.shape
    tiles = [pixels[y : y + tile, x : x + tile].tobytes()
             for y in range(0, height, tile) for x in range(0, width, tile)]  # fmt: skip
    entries = [(256, width), (257, height), (258, 8), (259, 1), (262, 1), (277, 1), (322, tile),
               (323, tile)]  # fmt: skip
    tables = 8 + 2 + 12 * (len(entries) + 2) + 4
    pixels_at = tables + 8 * len(tiles)
    out = bytearray(b"II*\x00" + struct.pack("<IH", 8, len(entries) + 2))
    for tag, value in entries:
        out += struct.pack("<HHIHH", tag, 3, 1, value, 0)
    out += struct.pack("<HHII", 324, 4, len(tiles), tables)  # TileOffsets
    out += struct.pack("<HHII", 325, 4, len(tiles), tables + 4 * len(tiles))  # TileByteCounts
    out += bytes(4)
    out += struct.pack(f"<{len(tiles)}I", *(pixels_at + i * tile * tile for i in range(len(tiles))))
    out += struct.pack(f"<{len(tiles)}I", *[tile * tile] * len(tiles))
    return bytes(out) + b"".join(tiles)


def _dicom_seeds(rng: np.random.Generator) -> list[bytes]:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import (
        DeflatedExplicitVRLittleEndian,
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
        JPEGBaseline8Bit,
        RLELossless,
        generate_uid,
    )

    def dataset(syntax, frames: int = 1, colour: bool = False, window: bool = True) -> Dataset:
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = syntax
        ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.SOPClassUID, ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPClassUID, generate_uid()
        ds.Rows, ds.Columns = 20, 24
        ds.SamplesPerPixel = 3 if colour else 1
        ds.PhotometricInterpretation = "RGB" if colour else "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = (8, 8, 7) if colour else (16, 12, 11)
        ds.PixelRepresentation = 0
        if colour:
            ds.PlanarConfiguration = 0
        if frames > 1:
            ds.NumberOfFrames = frames
        if window:
            ds.WindowCenter, ds.WindowWidth = 2048, 4096
            ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        shape = (frames, 20, 24, 3) if colour else (frames, 20, 24)
        pixels = rng.integers(0, 256 if colour else 4096, shape)
        ds.PixelData = pixels.astype(np.uint8 if colour else np.uint16).tobytes()
        if syntax == RLELossless:
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.compress(RLELossless, encoding_plugin="pydicom")
        if syntax == JPEGBaseline8Bit:  # an 8-bit JPEG frame, its own header to fuzz
            ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
            gray = PIL.Image.fromarray(pixels[0].astype(np.uint8))
            ds.PixelData = encapsulate([_pil_bytes(gray, "JPEG")])
            ds["PixelData"].VR = "OB"
        return ds

    def dicom_bytes(ds: Dataset) -> bytes:
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        return buffer.getvalue()

    return [dicom_bytes(ds) for ds in (
        dataset(ExplicitVRLittleEndian),
        dataset(ImplicitVRLittleEndian, window=False),
        dataset(DeflatedExplicitVRLittleEndian),
        dataset(RLELossless, frames=3),
        dataset(JPEGBaseline8Bit, window=False),
        dataset(ExplicitVRLittleEndian, colour=True, window=False),
    )]  # fmt: skip


def seed_files(format: str, seed: int = 0) -> list[bytes]:
    """Small valid files of one format, in the variants its decoders take different paths for."""
    rng = np.random.default_rng(seed)
    return _dicom_seeds(rng) if format == "dicom" else _pil_seeds(format, rng)


def _flip(data: bytearray, rng: random.Random, at: int) -> None:
    data[at] ^= 1 << rng.randrange(8)


def _interesting(data: bytearray, rng: random.Random, at: int) -> None:
    width = rng.choice((1, 2, 4))
    value = rng.choice(INTERESTING) & ((1 << (8 * width)) - 1)
    data[at : at + width] = value.to_bytes(width, rng.choice(("little", "big")))


def _truncate(data: bytearray, rng: random.Random, at: int) -> None:
    del data[at:]


def _duplicate(data: bytearray, rng: random.Random, at: int) -> None:
    data[at:at] = data[at : at + rng.randrange(1, 64)]


def _delete(data: bytearray, rng: random.Random, at: int) -> None:
    del data[at : at + rng.randrange(1, 64)]


MUTATIONS: tuple[Callable[[bytearray, random.Random, int], None], ...] = (
    _flip, _flip, _interesting, _interesting, _truncate, _duplicate, _delete,
)  # fmt: skip


def mutate(data: bytes, rng: random.Random) -> bytes:
    """1-4 mutations, mostly in the first 512 bytes, where headers and chunk tables live."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not out:
            break
        limit = min(len(out), 512) if rng.random() < 0.7 else len(out)
        rng.choice(MUTATIONS)(out, rng, rng.randrange(limit))
    return bytes(out)


def decode(data: bytes) -> str:
    """What reading the bytes as an image ends in: "ok", "ValueError", or another type's name."""
    try:
        image = load_image(data)
        to_channels_first_tensor(image, "dtype")
    except ValueError:
        return "ValueError"
    except Exception as error:  # the finding: anything else
        return f"{type(error).__module__}.{type(error).__name__}: {error}"[:300]
    return "ok"


def fuzz(format: str, count: int, seed: int = 0) -> Counter:
    """Outcomes of `count` mutated files of one format (seeded: the same run every time)."""
    rng, seeds = random.Random(f"{format}-{seed}"), seed_files(format, seed)
    outcomes: Counter = Counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom and PIL warn about most mutated files
        for _ in range(count):
            outcomes[decode(mutate(rng.choice(seeds), rng))] += 1
    return outcomes


if __name__ == "__main__":
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    for name in FORMATS:
        print(name, dict(fuzz(name, total // len(FORMATS))), flush=True)
