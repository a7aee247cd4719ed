import re
import sys

import numpy as np
import PIL.Image
import pydicom
import pytest
from pydicom.data import get_testdata_file

from mocoim_hub import MocoImImageProcessor, load_image, read_dicom


def test_dicom_with_a_window_is_windowed():
    path = get_testdata_file("MR_small.dcm")
    dataset = pydicom.dcmread(path)
    center, width = float(dataset.WindowCenter), float(dataset.WindowWidth)
    expected = np.clip((dataset.pixel_array - (center - width / 2)) / width, 0, 1)
    image = read_dicom(path)
    assert image.dtype == np.float32 and image.shape == (64, 64)
    assert np.allclose(image, expected, atol=1e-6)


def test_dicom_without_a_window_uses_the_modality_range():
    image = load_image(get_testdata_file("CT_small.dcm"))
    assert image.min() == 0.0 and image.max() == 1.0


def test_monochrome1_is_inverted(tmp_path):
    dataset = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    normal = read_dicom(get_testdata_file("CT_small.dcm"))
    dataset.PhotometricInterpretation = "MONOCHROME1"
    path = tmp_path / "inverted.dcm"
    dataset.save_as(path)
    assert np.allclose(read_dicom(path), 1.0 - normal)


def test_dicom_is_recognised_by_its_magic_and_fed_to_the_processor(tmp_path):
    path = tmp_path / "no_suffix"
    path.write_bytes(open(get_testdata_file("CT_small.dcm"), "rb").read())
    out = MocoImImageProcessor(size=32, crop_size=32)(str(path))["pixel_values"]
    assert out.shape == (1, 1, 32, 32)


def test_missing_pydicom_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydicom", None)
    with pytest.raises(ImportError, match=r"mocoim_hub\[dicom\]"):
        read_dicom(get_testdata_file("CT_small.dcm"))


def test_corrupt_files_raise_value_errors(tmp_path):
    broken_png = tmp_path / "broken.png"
    broken_png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    with pytest.raises(ValueError, match="Could not decode"):
        load_image(broken_png)
    broken_dicom = tmp_path / "broken.dcm"
    broken_dicom.write_bytes(b"\x00" * 128 + b"DICM" + b"\x01" * 50)
    with pytest.raises(ValueError, match="broken.dcm"):
        load_image(broken_dicom)
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "missing.png")


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("WindowCenter", "", "could not convert"),  # an empty window
        ("RescaleSlope", "abc", "could not convert string to float"),
        ("RescaleSlope", "1e308", "NaN or infinity"),
        ("Rows", 0, "cannot reshape|Rows"),
    ],
)
def test_malformed_dicom_fields_are_value_errors_naming_the_file(tmp_path, field, value, problem):
    dataset = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    tag = pydicom.datadict.tag_for_keyword(field)
    dataset[tag] = pydicom.DataElement(tag, "US" if field == "Rows" else "LO", value)
    path = tmp_path / "malformed.dcm"
    dataset.save_as(path)
    with pytest.raises(ValueError, match="malformed.dcm") as error:
        load_image(path)
    assert re.search(problem, str(error.value)), str(error.value)


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif"])
def test_exif_orientation_is_applied_as_viewers_show_it(tmp_path, suffix):
    """Orientation 6: the stored pixels are shown turned 90° clockwise; a 40 x 20 (w x h) file
    with a bright left column is shown 20 x 40 with a bright top row."""
    stored = np.zeros((20, 40), np.uint8)
    stored[:, :8] = 255
    exif = PIL.Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / f"turned{suffix}"
    # a TIFF keeps the tag in its own IFD; Pillow turns compressed TIFFs itself on load
    options = (
        {"tiffinfo": {0x0112: 6}, "compression": "tiff_lzw"} if suffix == ".tif" else {"exif": exif}
    )
    PIL.Image.fromarray(stored).save(path, **options)
    shown = np.asarray(load_image(path))
    assert shown.shape == (40, 20)
    assert shown[:6].mean() > 200 and shown[-20:].mean() < 50
    inputs = MocoImImageProcessor(size={"height": 40, "width": 20}, do_center_crop=False)(str(path))
    assert inputs["pixel_values"].shape[-2:] == (40, 20)
