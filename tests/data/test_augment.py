import numpy as np
import PIL.Image
import pytest
import torch

from mocoim_hub.data.augment import PRESETS, TwoViews, two_view_transform, view_transform


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("channels", [1, 3])
def test_every_preset_gives_two_different_normalised_views(preset, channels, retina):
    torch.manual_seed(0)
    views = two_view_transform(preset, size=64, num_channels=channels)
    first, second = views(PIL.Image.fromarray(retina[::8, ::8]))
    assert first.shape == second.shape == (channels, 64, 64)
    assert first.dtype == torch.float32 and torch.isfinite(first).all()
    assert not torch.equal(first, second)


def test_sixteen_bit_input_keeps_its_range():
    """A 16-bit X-ray enters as intensities in [0, 1], not clipped at 8 bits."""
    xray = np.linspace(0, 65535, 96 * 96).reshape(96, 96).astype(np.uint16)
    transform = view_transform("paper-nih", 96, image_mean=[0.0], image_std=[1.0])
    torch.manual_seed(0)
    out = transform(xray)
    assert out.max() > 0.5 and out.min() >= 0  # clipping to 8 bits would saturate the image


def test_batched_gpu_style_input():
    batch = torch.rand(4, 3, 80, 80)
    out = view_transform("xray", 64, num_channels=1)(batch)
    assert out.shape == (4, 1, 64, 64)


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(ValueError, match="expected one of mocov2, xray, histopathology"):
        view_transform("imagenet", 64)
    with pytest.raises(ValueError, match="at least 8 pixels"):
        view_transform("xray", 4)


def test_views_pickle_for_dataloader_workers():
    import pickle

    views = two_view_transform("histopathology", 32, num_channels=3)
    restored = pickle.loads(pickle.dumps(views))
    assert isinstance(restored, TwoViews)
    assert restored(np.zeros((40, 40, 3), np.uint8))[0].shape == (3, 32, 32)
