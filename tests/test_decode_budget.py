"""The checks made before a decoder runs: TIFF block tables, JPEG scans, and a DICOM frame's own
codestream against its header (the costs themselves are measured in tests/reliability)."""

import io
import struct

import numpy as np
import PIL.Image
import pytest

from mocoim_hub.decode_budget import (
    MAX_JPEG_SCANS,
    MAX_TIFF_BLOCKS,
    BadImageError,
    check_file_structure,
    check_frame_codestream,
)

RNG = np.random.default_rng(0)
RGB = PIL.Image.fromarray(RNG.integers(0, 256, (24, 32, 3), dtype=np.uint8))


def encoded(image: PIL.Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def with_scans(jpeg: bytes, scans: int) -> bytes:
    """The progressive JPEG with its last scan repeated until it has `scans` scans."""
    last = jpeg.rindex(b"\xff\xda")
    return jpeg[:last] + jpeg[last:-2] * (scans - jpeg.count(b"\xff\xda") + 1) + b"\xff\xd9"


def tiff_header(order: str, blocks: int, tag: int = 273, big: bool = False) -> bytes:
    """The header and first directory of a TIFF listing `blocks` strips (273) or tiles (324)."""
    if big:
        magic = b"II+\x00" if order == "<" else b"MM\x00+"
        return magic + struct.pack(order + "HHQQHHQQ", 8, 0, 16, 1, tag, 16, blocks, 0)
    magic = b"II*\x00" if order == "<" else b"MM\x00*"
    return magic + struct.pack(order + "IHHHII", 8, 1, tag, 4, blocks, 0)


def check(data: bytes, name: str = "scan.jpg") -> None:
    check_file_structure(io.BytesIO(data), name)


@pytest.mark.parametrize("options", [{}, {"progressive": True}, {"progressive": True,
                                                                   "restart_marker_blocks": 1}])  # fmt: skip
def test_jpegs_as_encoders_write_them_pass(options):
    data = encoded(RGB, "JPEG", **options)
    check(data)
    check(with_scans(encoded(RGB, "JPEG", progressive=True), MAX_JPEG_SCANS))


def test_a_jpeg_with_more_scans_than_allowed_is_refused_by_name():
    data = with_scans(encoded(RGB, "JPEG", progressive=True), MAX_JPEG_SCANS + 1)
    with pytest.raises(BadImageError, match=r"scan\.jpg is a JPEG with more than 100 scans"):
        check(data)


def test_scans_inside_an_exif_thumbnail_are_not_counted():
    """A marker segment's payload (here 200 SOS markers in an APP segment) is skipped whole."""
    data = encoded(RGB, "JPEG")
    app = b"\xff\xda" * 200
    data = data[:2] + b"\xff\xe1" + struct.pack(">H", len(app) + 2) + app + data[2:]
    check(data)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("big", [False, True], ids=["tiff", "bigtiff"])
@pytest.mark.parametrize("tag, kind", [(273, "strips"), (324, "tiles")])
def test_tiffs_are_held_to_the_block_limit(order, big, tag, kind):
    check(tiff_header(order, MAX_TIFF_BLOCKS, tag, big), "t.tif")
    with pytest.raises(BadImageError, match=rf"t\.tif is a TIFF of 32,769 {kind}, over the limit"):
        check(tiff_header(order, MAX_TIFF_BLOCKS + 1, tag, big), "t.tif")


def test_the_stream_is_left_at_its_start():
    stream = io.BytesIO(encoded(RGB, "TIFF"))
    check_file_structure(stream, "t.tif")
    assert stream.tell() == 0
    assert PIL.Image.open(stream).size == (32, 24)


@pytest.mark.parametrize(
    "format, options",
    [("JPEG", {}), ("JPEG2000", {"no_jp2": True}), ("JPEG2000", {})],
    ids=["jpeg", "j2k-codestream", "jp2-file"],
)
def test_a_frame_must_declare_the_headers_image(format, options):
    data = encoded(RGB, format, **options)
    check_frame_codestream(data, "a.dcm", 32, 24, 3)
    with pytest.raises(BadImageError, match=r"a\.dcm: its JPEG( 2000)? frame declares a 32x24 "
                                            r"image with 3 sample\(s\).*header says 64x64 with 1"):  # fmt: skip
        check_frame_codestream(data, "a.dcm", 64, 64, 1)


def test_frames_of_other_codings_are_sized_by_the_header():
    check_frame_codestream(b"\x00" * 64, "rle.dcm", 64, 64, 1)  # RLE: no codestream header
