"""Hostile files: decompression bombs refused from their headers within the decode budget, files
whose tables or scans cost before any pixel refused within a second, only the frame used decoded,
memory and time of the largest accepted files bounded (each measured in a child process), and a
seeded mutation fuzz over PNG/JPEG/TIFF/DICOM that finds no exception but ValueError."""

import pytest
from bombs import (
    deflated_dicom,
    jpeg_dicom,
    native_dicom,
    pil_file,
    progressive_jpeg,
    rle_dicom,
    strip_tiff,
)
from fuzz import FORMATS, fuzz
from peak_memory import measure

from mocoim_hub.decode_budget import MAX_JPEG_SCANS, MAX_TIFF_BLOCKS
from mocoim_hub.imaging import DECODE_BUDGET

pytestmark = [pytest.mark.faults, pytest.mark.reliability, pytest.mark.slow]
LOAD_AND_PROCESS = "MocoImImageProcessor()(load_image({path!r}))"
SETUP = "from mocoim_hub import MocoImImageProcessor, load_image"
MIB = 2**20


def load_and_process(path) -> dict:
    result = measure(LOAD_AND_PROCESS.format(path=str(path)), setup=SETUP)
    size = path.stat().st_size / 2**20
    print(
        f"\n{path.name} ({size:.2f} MiB): +{result['growth_mb']:.0f} MB, "
        f"{result['seconds']:.2f} s, {result['outcome'][:90]}"
    )
    return result


BOMBS = {  # the probe's files: a few MB or less on disk, gigabytes once decoded
    "deflated-dicom-12000x12000x8": lambda p: deflated_dicom(p / "bomb.dcm", 12000, 12000, 8),
    "dicom-frame-12000x12000": lambda p: deflated_dicom(p / "frame.dcm", 12000, 12000, 1),
    "png-16bit-13000": lambda p: pil_file(p / "bomb.png", 13000, "I;16"),
    "tiff-int32-9000": lambda p: pil_file(p / "bomb.tif", 9000, "I", compression="tiff_deflate"),
}


@pytest.mark.parametrize("make", BOMBS.values(), ids=BOMBS.keys())
def test_bombs_are_refused_from_their_headers(tmp_path, make):
    path = make(tmp_path)
    assert path.stat().st_size < 3 * MIB
    result = load_and_process(path)
    assert result["outcome"].startswith("BadImageError"), result
    assert path.name in result["outcome"] and "decode budget" in result["outcome"]
    assert result["growth_mb"] < 64, result  # refused before decoding: nothing was allocated


COSTLY_STRUCTURES = {  # small files whose decoding costs before or beyond what the header says
    # before: +420 MB, then a broadcast error
    "dicom-64x64-with-12000x12000-jpeg-frame": (
        lambda p: jpeg_dicom(p / "frame.dcm", 64, 64, 12000), "frame declares a 12000x12000"),
    # before: 4 s of CPU, accepted
    "jpeg-4096-3000-scans": (
        lambda p: progressive_jpeg(p / "scans.jpg", 4096, 3000), "more than 100 scans"),
    # before: +320 MB and 10 s before the processor's aspect-ratio error
    "tiff-1000000-strips": (
        lambda p: strip_tiff(p / "strips.tif", 1_000_000), "1,000,000 strips"),
}  # fmt: skip


@pytest.mark.parametrize("make, says", COSTLY_STRUCTURES.values(), ids=COSTLY_STRUCTURES.keys())
def test_costly_structures_are_refused_before_decoding(tmp_path, make, says):
    path = make(tmp_path)
    assert path.stat().st_size < 4 * MIB
    result = load_and_process(path)
    assert result["outcome"].startswith("BadImageError"), result
    assert path.name in result["outcome"] and says in result["outcome"], result
    assert result["growth_mb"] < 64 and result["seconds"] < 1.0, result


@pytest.mark.parametrize(
    "make",
    [
        lambda p: progressive_jpeg(p / "scans.jpg", 4096, MAX_JPEG_SCANS),
        lambda p: jpeg_dicom(p / "frame.dcm", 4096, 4096, 4096),
    ],
    ids=["jpeg-4096-100-scans", "dicom-4096-jpeg-frame"],
)
def test_the_costliest_accepted_structures_decode_within_seconds(tmp_path, make):
    """At the limits: a JPEG of as many scans as allowed, a DICOM frame as large as its header."""
    result = load_and_process(make(tmp_path))
    assert result["outcome"] == "ok", result
    assert result["growth_mb"] < 512 and result["seconds"] < 10, result


def test_the_most_strips_accepted_are_set_up_within_a_second(tmp_path):
    """32,768 one-row strips: the processor then refuses the 32,768:1 strip by its ratio."""
    result = load_and_process(strip_tiff(tmp_path / "strips.tif", MAX_TIFF_BLOCKS))
    assert "aspect ratio 32,768:1" in result["outcome"], result
    assert result["growth_mb"] < 128 and result["seconds"] < 1.0, result


def test_only_the_frame_used_is_decoded(tmp_path):
    """64 frames of 4096x4096 16-bit (2 GiB decoded) in a 34 MB RLE file: one frame is read."""
    result = load_and_process(rle_dicom(tmp_path / "frames.dcm", 4096, 4096, 64))
    assert result["outcome"] == "ok", result
    assert result["growth_mb"] < 400, result  # a frame is 32 MiB, as float32 64 MiB


@pytest.mark.parametrize(
    "make",
    [
        lambda p: pil_file(p / "largest.tif", 8192, "I", compression="tiff_deflate"),
        lambda p: native_dicom(p / "largest.dcm", 8192, 8192),
    ],
    ids=["tiff-int32-8192", "dicom-16bit-8192"],
)
def test_largest_accepted_files_stay_within_memory(tmp_path, make):
    """8192x8192 is the largest grayscale image the budget accepts (exactly 256 MiB as float32)."""
    path = make(tmp_path)
    result = load_and_process(path)
    assert result["outcome"] == "ok", result
    assert result["growth_mb"] < 1024, result
    assert 8192 * 8192 * 4 == DECODE_BUDGET


@pytest.mark.parametrize("format", FORMATS)
def test_mutation_fuzz_finds_nothing_but_value_errors(format):
    """25,000 mutated files per format, 100,000 in all (seeded, the same files every run)."""
    outcomes = fuzz(format, 25_000, seed=0)
    print(f"\n{format}: {dict(outcomes)}")
    others = {
        outcome: count for outcome, count in outcomes.items() if outcome not in ("ok", "ValueError")
    }
    assert not others, others
    assert outcomes["ValueError"] > 1000 and outcomes["ok"] > 100  # both paths were exercised


def test_an_extreme_aspect_ratio_is_refused_before_the_resize_allocates(tmp_path):
    """A 1 kB PNG of 1 x 1,000,000 pixels passes the decode budget (1 M samples); resizing its
    short edge to 224 would ask for 191 GiB. The processor refuses it, naming the ratio."""
    import numpy as np
    from PIL import Image

    path = tmp_path / "strip.png"
    Image.fromarray(np.zeros((1, 1_000_000), np.uint8)).save(path)
    assert path.stat().st_size < 4096
    result = load_and_process(path)
    assert result["outcome"].startswith("ValueError"), result
    assert "aspect ratio 1,000,000:1" in result["outcome"], result
    assert result["growth_mb"] < 64, result
