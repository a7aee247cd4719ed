import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from mocoim_hub.data import batch_augment
from mocoim_hub.data.augment import PRESETS, fixed_size_transform
from mocoim_hub.data.batch_augment import BLUR, DRAWS, JITTER, BatchViews, uniforms_from_seeds

NO_CHANGE = 0.5  # the uniform that draws no rotation, an unflipped image and a jitter factor of 1


def draws(batch: int, **columns: float) -> torch.Tensor:
    """Uniforms that apply nothing (no jitter, no blur, identity geometry) except `columns`."""
    u = torch.full((batch, DRAWS), NO_CHANGE)
    u[:, [JITTER, BLUR]] = 0.99
    for name, value in columns.items():
        u[:, getattr(batch_augment, name)] = value
    return u


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("channels", [1, 3])
def test_every_preset_gives_two_different_normalised_views(preset, channels):
    images = torch.rand(5, channels, 24, 24)
    first, second = BatchViews(preset, 24, channels)(images, torch.arange(5))
    assert first.shape == second.shape == (5, channels, 24, 24)
    assert torch.isfinite(first).all() and not torch.equal(first, second)


def test_a_sample_has_the_same_views_in_any_batch():
    """Parameters come from each sample's seed: the views do not depend on the batch."""
    views = BatchViews("mocov2", 32, 3)
    images = torch.rand(4, 3, 32, 32)
    seeds = torch.tensor([11, 12, 13, 14])
    whole = views(images, seeds)
    alone = views(images[2:3], seeds[2:3])
    for batched, single in zip(whole, alone, strict=False):
        torch.testing.assert_close(batched[2:3], single)
    again = views(images, seeds + 1)
    assert not torch.equal(again[0], whole[0])


def test_identity_draws_return_the_normalised_image(images):
    views = BatchViews("paper-nih", 32, 3, image_mean=[0.0] * 3, image_std=[1.0] * 3)
    torch.testing.assert_close(views.view(images, draws(6)), images, atol=1e-5, rtol=0)


def test_quarter_turns_and_flips_match_torchvision(images):
    views = BatchViews("histopathology", 32, 3, image_mean=[0.0] * 3, image_std=[1.0] * 3)
    u = draws(6, TURN=0.3, HFLIP=0.2)  # a quarter turn (90°) and a horizontal flip
    u[:, 0], u[:, 1] = 1.0, 0.5  # the whole image: crop area 1, ratio 1
    expected = TF.horizontal_flip(TF.rotate(images, 90))
    torch.testing.assert_close(views.view(images, u), expected, atol=1e-5, rtol=0)


def test_blur_matches_torchvision_gaussian_blur(images):
    views = BatchViews("xray", 32, 3, image_mean=[0.0] * 3, image_std=[1.0] * 3)
    u = draws(6, BLUR=0.1, SIGMA=0.5)  # sigma = 0.1 + 1.9 * 0.5
    u[:, 0], u[:, 1] = 1.0, 0.5
    expected = TF.gaussian_blur(images, [3, 3], [1.05, 1.05])
    torch.testing.assert_close(views.view(images, u), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("shift", [-0.1, 0.05])
def test_hue_matches_torchvision_adjust_hue(images, shift):
    views = BatchViews("mocov2", 32, 3, image_mean=[0.0] * 3, image_std=[1.0] * 3)
    u = draws(6, JITTER=0.1, HUE=(shift / 0.1 + 1) / 2, GRAY=0.99)
    u[:, 0], u[:, 1] = 1.0, 0.5
    torch.testing.assert_close(
        views.view(images, u), TF.adjust_hue(images, shift), atol=1e-4, rtol=0
    )


def test_crops_cover_the_preset_scale_range():
    """Mean crop area over many draws sits where RandomResizedCrop(scale=(0.2, 1)) puts it."""
    views = BatchViews("mocov2", 32, 1, image_mean=[0.0], image_std=[1.0])
    ones = torch.ones(2000, 1, 32, 32)
    u = uniforms_from_seeds(torch.arange(2000), DRAWS)
    u[:, [JITTER, BLUR]] = 0.99
    inside = views.view(ones, u).mean((1, 2, 3))  # crops never leave the image: all ones
    assert inside.min() > 0.999
    rotated = BatchViews("xray", 32, 1, image_mean=[0.0], image_std=[1.0]).view(ones, u)
    assert rotated.mean() < 1 and rotated.min() == 0  # rotation fills corners with zeros


def test_loader_side_transform_gives_fixed_size_floats():
    image = (torch.rand(40, 50) * 255).to(torch.uint8).numpy()
    out = fixed_size_transform(32, 1)(image)
    assert (
        out.shape == (1, 32, 32) and out.dtype == torch.float32 and 0 <= out.min() <= out.max() <= 1
    )
