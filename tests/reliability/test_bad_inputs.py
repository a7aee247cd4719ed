"""Bad inputs everywhere they can enter: the image processor (property-based, over every PIL mode
and numpy dtype, shape and value range), corrupt files through every dataset adapter, and hostile
model configs. Each ends in a valid result or a `ValueError` that explains; nothing else."""

import io
import itertools
import json
import shutil

import numpy as np
import PIL.Image
import pydicom.data
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from mocoim_hub import MocoImConfig, MocoImForImageClassification, MocoImImageProcessor
from mocoim_hub.data.adapters import (
    diabetic_retinopathy,
    hf_dataset,
    idc_histopathology,
    image_folder,
    nih_chestxray14,
)
from mocoim_hub.data.loading import make_loader
from mocoim_hub.features import ProcessedImages

pytestmark = pytest.mark.reliability
RNG = np.random.default_rng(0)

# --- the image processor ------------------------------------------------------------------------

PIL_MODES = ["1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr",
             "LAB", "HSV", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"]  # fmt: skip
DTYPES = [np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64,
          np.uint64, np.float16, np.float32, np.float64, np.complex64, np.object_]  # fmt: skip
EIGHT = {"height": 8, "width": 8}
PROCESSORS = [MocoImImageProcessor(size=EIGHT, crop_size=EIGHT, num_channels=c, intensity_scaling=s)
              for c, s in itertools.product([1, 3], ["dtype", "minmax"])]  # fmt: skip


def check(processor: MocoImImageProcessor, image) -> None:
    """A finite (1, C, 8, 8) tensor, or a ValueError with a message."""
    try:
        out = processor(image, return_tensors="pt")["pixel_values"]
    except ValueError as error:
        assert str(error).strip()
        return
    assert out.shape[1:] == (processor.num_channels, 8, 8) and out.dtype == torch.float32
    assert torch.isfinite(out).all()


@st.composite
def pil_images(draw) -> PIL.Image.Image:
    mode = draw(st.sampled_from(PIL_MODES))
    width, height = draw(st.integers(0, 9)), draw(st.integers(0, 9))
    image = PIL.Image.new(mode, (width, height))
    size = len(image.tobytes())
    return PIL.Image.frombytes(mode, (width, height), draw(st.binary(min_size=size, max_size=size)))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image=pil_images(), processor=st.sampled_from(PROCESSORS))
def test_every_pil_mode_size_and_content(image, processor):
    check(processor, image)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    image=st.sampled_from(DTYPES).flatmap(
        lambda dtype: arrays(dtype, array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=5))
    ),
    processor=st.sampled_from(PROCESSORS),
    as_list=st.booleans(),
)
def test_every_dtype_shape_and_value_range(image, processor, as_list):
    """Arrays hold any values of their dtype: NaN, ±inf, extremes, objects, complex numbers."""
    check(processor, [image] if as_list else image)


# --- corrupt files through every adapter --------------------------------------------------------


def png_bytes(mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    PIL.Image.fromarray(RNG.integers(0, 255, (12, 12), dtype=np.uint8)).convert(mode).save(
        buffer, "PNG"
    )
    return buffer.getvalue()


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    PIL.Image.fromarray(RNG.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


DICOM = open(pydicom.data.get_testdata_file("CT_small.dcm"), "rb").read()


def dicom_with(**fields) -> bytes:
    """CT_small.dcm with some fields replaced by values of the wrong kind (written as text)."""
    dataset = pydicom.dcmread(pydicom.data.get_testdata_file("CT_small.dcm"))
    for keyword, value in fields.items():
        tag = pydicom.datadict.tag_for_keyword(keyword)
        dataset[tag] = pydicom.DataElement(tag, "LO", value)
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    return buffer.getvalue()


CORRUPT = {
    "empty": b"",
    "truncated-png": png_bytes()[:60],
    "png-header-only": png_bytes()[:8],
    "truncated-jpeg": jpeg_bytes()[:300],
    "random-bytes": RNG.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
    "text": b"patient notes, not an image\n",
    "malformed-dicom": b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00garbage" * 20,
    "truncated-dicom-pixels": DICOM[: len(DICOM) - 5000],
    "dicom-empty-window": dicom_with(WindowCenter="", WindowWidth=""),
    "dicom-text-rescale-slope": dicom_with(RescaleSlope="abc"),
}


def build_image_folder(root, bad):
    for label, i in itertools.product(("benign", "malignant"), range(6)):
        (root / label).mkdir(parents=True, exist_ok=True)
        (root / label / f"{i}.png").write_bytes(png_bytes())
    (root / "benign" / "0.png").write_bytes(bad)
    return lambda **kw: image_folder(root, **kw)


def build_idc(root, bad):
    for patient, label, k in itertools.product(range(10), (0, 1), range(1)):
        folder = root / f"{8900 + patient}" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"p{k}_class{label}.png").write_bytes(png_bytes("RGB"))
    next(root.glob("*/0/*.png")).write_bytes(bad)
    return lambda **kw: idc_histopathology(root, **kw)


def build_nih(root, bad):
    rows = ["Image Index,Finding Labels,Follow-up #,Patient ID"]
    (root / "images").mkdir(parents=True)
    for i in range(24):
        name = f"{i:08d}_000.png"
        (root / "images" / name).write_bytes(bad if i == 0 else png_bytes())
        rows.append(f"{name},{'No Finding' if i % 2 else 'Effusion|Mass'},0,{i}")
    (root / "Data_Entry_2017.csv").write_text("\n".join(rows) + "\n")
    return lambda **kw: nih_chestxray14(root, **kw)


def build_dr(root, bad):
    rows = ["image,level"]
    (root / "train").mkdir(parents=True)
    for patient, eye in itertools.product(range(10), ("left", "right")):
        name = f"{patient}_{eye}"
        (root / "train" / f"{name}.jpeg").write_bytes(jpeg_bytes())
        rows.append(f"{name},{patient % 5}")
    (root / "train" / "0_left.jpeg").write_bytes(bad)
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return lambda **kw: diabetic_retinopathy(root / "labels.csv", root / "train", **kw)


def build_hf_dataset(root, bad):
    import datasets

    images = [{"bytes": bad if i == 0 else png_bytes(), "path": None} for i in range(12)]
    table = datasets.Dataset.from_dict(
        {"image": images, "label": [i % 2 for i in range(12)]},
        features=datasets.Features(image=datasets.Image(),
                                   label=datasets.ClassLabel(names=["a", "b"])),
    )  # fmt: skip
    table.save_to_disk(root / "ds")
    return lambda **kw: hf_dataset(root / "ds", **kw)


ADAPTERS = {"image_folder": build_image_folder, "idc": build_idc, "nih": build_nih,
            "dr": build_dr, "hf_dataset": build_hf_dataset}  # fmt: skip


def read_all(splits) -> tuple[int, int]:
    """(usable images, skipped images) over every split, reading every item."""
    items = [split[i] for split in splits.values() for i in range(len(split))]
    return sum(item is not None for item in items), sum(item is None for item in items)


@pytest.mark.parametrize("kind", CORRUPT)
@pytest.mark.parametrize("adapter", ADAPTERS)
def test_corrupt_file_is_reported_or_skipped(tmp_path, adapter, kind):
    total = {"image_folder": 12, "idc": 20, "nih": 24, "dr": 20, "hf_dataset": 12}[adapter]
    open_splits = ADAPTERS[adapter](tmp_path, CORRUPT[kind])
    try:  # strict: the bad file is named, at construction (empty files) or when read
        read_all(open_splits())
        pytest.fail("a corrupt file was read without an error")
    except ValueError as error:
        assert "skip" in str(error) and ("0" in str(error) or "image" in str(error))

    splits = open_splits(on_bad_image="skip")
    usable, skipped = read_all(splits)
    assert usable == total - 1 and skipped in (0, 1)  # skipped when read, or left out up front
    processor = MocoImImageProcessor(size=EIGHT, crop_size=EIGHT, num_channels=1)
    batches = list(make_loader(ProcessedImages(splits["train"], processor), batch_size=64,
                               num_workers=0))  # fmt: skip
    pixels = torch.cat([b["image"] for b in batches if "image" in b])
    assert torch.isfinite(pixels).all()


# --- hostile configs ----------------------------------------------------------------------------

HOSTILE = [
    ({"backbone": "resnet7"}, "backbone"),
    ({"backbone": "../../etc/passwd"}, "backbone"),
    ({"image_size": -32}, "image_size"),
    ({"image_size": 0}, "image_size"),
    ({"num_channels": 0}, "num_channels"),
    ({"num_channels": 4}, "num_channels"),
    ({"stem": "vit"}, "stem"),
    ({"image_mean": [0.5, 0.5]}, "image_mean"),
    ({"image_std": [0.0]}, "image_std"),
    ({"intermediate_loss": "kl"}, "intermediate_loss"),
    ({"id2label": {"0": "a", "2": "b"}}, "id2label"),
    ({"id2label": {"0": "a", "1": "a"}}, "id2label"),
    ({"id2label": {"0": "a", "1": "b"}, "label2id": {"a": 1, "b": 0}}, "label2id"),
    ({"backbone": ["resnet18"]}, "backbone"),
    ({"id2label": []}, "id2label"),
    ({"label2id": []}, "label2id"),
    ({"image_std": [None]}, "image_std"),
    ({"image_mean": "a"}, "image_mean"),
    ({"image_mean": [float("nan")]}, "image_mean"),
    ({"intermediate_weights": ["x"]}, "intermediate_weights"),
    ({"num_labels": 100_000_000}, "num_labels"),
    ({"num_labels": "3"}, "num_labels"),
    ({"image_size": 10**12}, "image_size"),
    ({"zero_init_residual": "no"}, "zero_init_residual"),
    ({"num_channels": True}, "num_channels"),
    ({"pretraining_recipe": 5}, "pretraining_recipe"),
]


@pytest.mark.parametrize(("values", "field"), HOSTILE, ids=[str(v) for v, _ in HOSTILE])
def test_hostile_config_fails_at_construction_naming_the_field(values, field):
    with pytest.raises(ValueError, match=field):
        MocoImConfig(**values)


def model_with(saved_model_dir, tmp_path, file: str, values: dict):
    """A copy of the saved model whose `file` (a JSON object) has `values` written over it."""
    folder = shutil.copytree(saved_model_dir, tmp_path / "model")
    settings = json.loads((folder / file).read_text())
    (folder / file).write_text(json.dumps({**settings, **values}))
    return folder


@pytest.mark.parametrize(("values", "field"), HOSTILE, ids=[str(v) for v, _ in HOSTILE])
def test_hostile_config_file_fails_at_load(tmp_path, saved_model_dir, values, field):
    folder = model_with(saved_model_dir, tmp_path, "config.json", values)
    with pytest.raises(ValueError, match=field):
        MocoImForImageClassification.from_pretrained(folder)


def test_config_file_holding_no_object_is_a_value_error(tmp_path, saved_model_dir):
    folder = shutil.copytree(saved_model_dir, tmp_path / "model")
    (folder / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="config.json to hold a JSON object"):
        MocoImForImageClassification.from_pretrained(folder)
    (folder / "preprocessor_config.json").write_text('"resnet"')
    with pytest.raises(ValueError, match="preprocessor_config.json to hold a JSON object"):
        MocoImImageProcessor.from_pretrained(folder)


HOSTILE_PROCESSOR = [
    ({"size": {"shortest_edge": 1_000_000}}, "size"),
    ({"crop_size": 10**6}, "crop_size"),
    ({"image_mean": "a"}, "image_mean"),
    ({"image_std": [None]}, "image_std"),
    ({"do_resize": "no"}, "do_resize"),
    ({"do_normalize": 1}, "do_normalize"),
    ({"channels_first": "x"}, "channels_first"),
    ({"num_channels": True}, "num_channels"),
    ({"resample": ["bilinear"]}, "resample"),
    ({"intensity_scaling": None}, "intensity_scaling"),
]


@pytest.mark.parametrize(
    ("values", "field"), HOSTILE_PROCESSOR, ids=[str(v) for v, _ in HOSTILE_PROCESSOR]
)
def test_hostile_processor_file_fails_at_load(tmp_path, saved_model_dir, values, field):
    folder = model_with(saved_model_dir, tmp_path, "preprocessor_config.json", values)
    with pytest.raises(ValueError, match=field):
        MocoImImageProcessor.from_pretrained(folder)
