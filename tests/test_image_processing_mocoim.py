import numpy as np
import PIL.Image
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from torchvision.transforms import v2

from mocoim_hub import MocoImConfig, MocoImImageProcessor


def unnormalised(num_channels: int = 1, size: int = 8, **kwargs) -> MocoImImageProcessor:
    """A processor that only resizes and crops, so outputs are plain intensities in [0, 1]."""
    return MocoImImageProcessor(
        num_channels=num_channels, size=size, crop_size=size, do_normalize=False, **kwargs
    )


def pixels(processor, image, **kwargs) -> torch.Tensor:
    return processor(image, **kwargs)["pixel_values"]


def test_sixteen_bit_png_keeps_its_range(tmp_path):
    """A 16-bit X-ray with values 1000 and 60000 must not be clipped to 255."""
    array = np.full((8, 8), 1000, dtype=np.uint16)
    array[:, 4:] = 60000
    path = tmp_path / "xray16.png"
    PIL.Image.fromarray(array).save(path)
    image = PIL.Image.open(path)
    assert image.mode.startswith("I")
    out = pixels(unnormalised(), image)[0, 0]
    assert out[0, 0].item() == pytest.approx(1000 / 65535, abs=1e-6)
    assert out[0, 7].item() == pytest.approx(60000 / 65535, abs=1e-6)
    assert torch.allclose(pixels(unnormalised(), str(path)), pixels(unnormalised(), array))


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I", "I;16", "F"])
def test_every_pil_mode_gives_a_valid_tensor(mode):
    base = PIL.Image.fromarray(np.tile(np.arange(0, 256, 16, dtype=np.uint8), (16, 1)))
    image = base.convert(mode) if mode not in ("I;16", "F") else base
    if mode == "F":
        image = PIL.Image.fromarray(np.asarray(base, dtype=np.float32) / 255.0, mode="F")
    if mode == "I;16":
        image = PIL.Image.fromarray(np.asarray(base).astype(np.uint16) * 257)
    for channels in (1, 3):
        out = pixels(unnormalised(channels), image)
        assert out.shape == (1, channels, 8, 8)
        assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
        if mode not in ("1", "P", "CMYK"):  # a left-to-right ramp stays one
            assert out[0, 0, 0, -1] > out[0, 0, 0, 0]


def test_rgb_to_gray_uses_luma_and_gray_to_rgb_repeats():
    red = np.zeros((8, 8, 3), dtype=np.uint8)
    red[..., 0] = 255
    assert pixels(unnormalised(1), red).unique().tolist() == pytest.approx([0.299])
    gray = np.full((8, 8), 128, dtype=np.uint8)
    out = pixels(unnormalised(3), gray)
    assert out.shape == (1, 3, 8, 8) and torch.equal(out[0, 0], out[0, 2])


def test_layouts_of_arrays_and_tensors():
    hwc = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    processor = unnormalised(3)
    reference = pixels(processor, hwc)
    assert torch.equal(pixels(processor, hwc.transpose(2, 0, 1)), reference)  # CHW guessed
    assert torch.equal(pixels(processor, torch.from_numpy(hwc).permute(2, 0, 1)), reference)
    batch = pixels(processor, np.stack([hwc, hwc]))  # a 4-D array is a batch
    assert batch.shape == (2, 3, 8, 8)


def test_uint8_matches_a_torchvision_pipeline(retina):
    processor = MocoImImageProcessor(num_channels=3, size=256, crop_size=224)
    reference = v2.Compose([
        v2.ToImage(), v2.Resize(256, antialias=True), v2.CenterCrop(224),
        v2.ToDtype(torch.float32, scale=True), v2.Normalize(processor.image_mean, processor.image_std),
    ])  # fmt: skip
    image = PIL.Image.fromarray(retina)
    assert torch.allclose(pixels(processor, image)[0], reference(image), atol=1e-5)


def test_minmax_scaling_for_signed_and_unbounded_data():
    ct = np.array([[-1000, 0], [500, 3000]], dtype=np.int16)
    with pytest.raises(ValueError, match="intensity_scaling='minmax'"):
        pixels(unnormalised(size=2), ct)
    out = pixels(unnormalised(size=2, intensity_scaling="minmax", resample="nearest"), ct)
    assert out.flatten().tolist() == pytest.approx([0.0, 0.25, 0.375, 1.0])
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        pixels(unnormalised(), np.full((8, 8), 2.5, dtype=np.float32))


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((0, 5), dtype=np.uint8), "Expected an image with pixels"),
        (np.zeros((8, 8, 5), dtype=np.uint8), "Expected 1 (gray), 2 (gray+alpha), 3 (RGB)"),
        (np.zeros((2, 2, 2, 2, 2), dtype=np.uint8), "Expected an image of 2 (HxW) or 3"),
        (np.full((8, 8), np.nan, dtype=np.float32), "NaN or infinite"),
        (np.array([["a"]]), "Expected numeric pixel data"),
        (42, "Expected a PIL image, a numpy array, a torch tensor, an image or DICOM file path"),
        ([], "empty list"),
    ],
)
def test_bad_inputs_raise_value_errors_that_explain(image, message):
    with pytest.raises(ValueError) as excinfo:
        pixels(unnormalised(), image)
    assert message in str(excinfo.value)


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="expected one of nearest, bilinear, bicubic"):
        MocoImImageProcessor(resample="lanczos")
    with pytest.raises(ValueError, match="Expected 3 value"):
        MocoImImageProcessor(num_channels=3, image_mean=[0.5])
    with pytest.raises(ValueError, match="Unknown preprocessing option"):
        MocoImImageProcessor()(np.zeros((8, 8), np.uint8), do_magic=True)
    with pytest.raises(ValueError, match=r"an int in 1..4096 \(pixels\) or"):
        MocoImImageProcessor(size={"width": 3})


def test_save_load_round_trip_and_config_defaults(tmp_path):
    config = MocoImConfig(num_channels=3, image_size=48)
    processor = MocoImImageProcessor.from_model_config(config, intensity_scaling="minmax")
    processor.save_pretrained(tmp_path)
    loaded = MocoImImageProcessor.from_pretrained(tmp_path)
    assert loaded.to_dict() == processor.to_dict()
    assert loaded.crop_size == {"height": 48, "width": 48}
    assert loaded.image_mean == config.image_mean and loaded.intensity_scaling == "minmax"


def test_return_numpy():
    out = MocoImImageProcessor(size=8, crop_size=8)(np.zeros((8, 8), np.uint8), return_tensors="np")
    assert isinstance(out["pixel_values"], np.ndarray)


PIXEL_DTYPES = [
    np.uint8,
    np.uint16,
    np.int16,
    np.int32,
    np.int64,
    np.float16,
    np.float32,
    np.float64,
    np.bool_,
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    image=arrays(
        st.sampled_from(PIXEL_DTYPES), array_shapes(min_dims=1, max_dims=5, min_side=0, max_side=6)
    ),
    channels=st.sampled_from([1, 3]),
    scaling=st.sampled_from(["dtype", "minmax"]),
    as_tensor=st.booleans(),
)
def test_any_array_gives_a_finite_tensor_in_range_or_a_value_error(
    image, channels, scaling, as_tensor
):
    processor = unnormalised(channels, intensity_scaling=scaling)
    try:
        out = pixels(processor, torch.from_numpy(image.copy()) if as_tensor else image)
    except ValueError as err:
        assert str(err)  # a message, never a bare error
        return
    assert out.shape[1:] == (channels, 8, 8)
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_standard_transformers_options_are_understood():
    from transformers.image_utils import ChannelDimension

    processor = MocoImImageProcessor(num_channels=3, size=16, crop_size=16, do_normalize=False)
    image = np.random.default_rng(0).random((3, 20, 3), dtype=np.float32)  # ambiguous layout
    last = processor(image, input_data_format="channels_last")["pixel_values"]
    first = processor(image, input_data_format=ChannelDimension.FIRST)["pixel_values"]
    assert last.shape == first.shape == (1, 3, 16, 16)
    assert torch.allclose(last, processor(image, channels_first=False)["pixel_values"])
    assert torch.allclose(first, processor(image, channels_first=True)["pixel_values"])
    assert torch.equal(processor(image, do_convert_rgb=True, data_format="channels_first",
                                 input_data_format="channels_last")["pixel_values"], last)  # fmt: skip
    with pytest.raises(ValueError, match="always channels_first"):
        processor(image, data_format="channels_last")
    with pytest.raises(ValueError, match="Unknown input_data_format"):
        processor(image, input_data_format="none")


def test_normalisation_given_per_call_has_one_value_per_channel():
    processor = MocoImImageProcessor(num_channels=1, size=16, crop_size=16)
    image = np.full((20, 20), 128, dtype=np.uint8)
    scalar = processor(image, image_mean=0.0, image_std=1.0)["pixel_values"]
    assert scalar.shape == (1, 1, 16, 16) and torch.allclose(
        scalar, torch.full_like(scalar, 128 / 255)
    )
    with pytest.raises(ValueError, match=r"Expected 1 value\(s\) in image_mean"):
        processor(image, image_mean=[0.0] * 4, image_std=[1.0] * 4)
    with pytest.raises(ValueError, match="image_std must be positive"):
        processor(image, image_std=0)


@pytest.mark.parametrize("shape", [(1, 1_000_000), (3, 400_000)])
def test_a_resize_over_the_decode_budget_is_refused_naming_the_ratio(shape):
    with pytest.raises(
        ValueError, match=r"aspect ratio [\d,]+:1\) would resize to .* over the decode budget"
    ):
        MocoImImageProcessor()(np.zeros(shape, np.uint8))
    # the same strip to a fixed size is fine: nothing larger than the output is allocated
    fixed = MocoImImageProcessor(size={"height": 32, "width": 32}, crop_size=32)
    assert fixed(np.zeros(shape, np.uint8))["pixel_values"].shape == (1, 1, 32, 32)
