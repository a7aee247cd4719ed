"""Two-view augmentations for MoCo pretraining, as named presets per modality.

Every preset maps one image (PIL, array, tensor; 8/16-bit or float, see `mocoim_hub.imaging`) to a
normalised `(num_channels, size, size)` float tensor; `TwoViews` applies it twice. Built on
torchvision transforms v2, so the same pipelines also take a batched `(B, C, H, W)` tensor on a GPU
(with one random draw per call, i.e. shared by the batch).

| preset | from | crop | flips / rotation | colour | blur |
|---|---|---|---|---|---|
| `mocov2` | MoCo v2 reference | RandomResizedCrop, scale 0.2-1 | h-flip | jitter 0.4/0.4/0.4/0.1 p=0.8, gray p=0.2 | p=0.5 |
| `xray` | ours | RandomResizedCrop, scale 0.5-1 | rotation 15° (no flip: laterality matters) | brightness/contrast 0.4 p=0.8 | p=0.5 |
| `histopathology` | ours | RandomResizedCrop, scale 0.4-1 | h/v flips, 90° turns | jitter 0.4/0.4/0.4/0.1 p=0.8, gray p=0.2 | p=0.5 |
| `fundus` | ours | RandomResizedCrop, scale 0.5-1 | h-flip, rotation 30° | jitter 0.2/0.2/0.1/0.02 p=0.8 | p=0.5 |
| `paper-nih` | authors, NIH | resize only | rotation 30° | jitter 0.4/0.4/0.4/0.1 p=0.8, gray p=0.2 | p=0.5 |
| `paper-bch` | authors, histopathology | RandomResizedCrop, scale 0.4-1 | h-flip | jitter 0.4/0.4/0.4/0.1 p=0.8, gray p=0.2 | p=0.5 |
| `paper-dr` | authors, retinopathy | resize only | h-flip, rotation 30° | jitter 0.4/0.4/0.4/0.1 p=0.8, gray p=0.2 | p=0.5 |

Blur is Gaussian with sigma in [0.1, 2] and a kernel of about a tenth of the image side (odd).
On one-channel images, saturation, hue and grayscale are no-ops.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2

from ..configuration_mocoim import default_normalization
from ..image_processing_mocoim import match_channels, to_channels_first_tensor
from ..imaging import ImageLike

PRESETS = ("mocov2", "xray", "histopathology", "fundus", "paper-nih", "paper-bch", "paper-dr")
STRONG_JITTER = (0.4, 0.4, 0.4, 0.1)


class ToFloatImage(torch.nn.Module):
    """Any supported image -> float `(num_channels, H, W)` in [0, 1] (batched tensors pass through
    with their channels matched)."""

    def __init__(self, num_channels: int, intensity_scaling: str = "dtype"):
        super().__init__()
        self.num_channels = num_channels
        self.intensity_scaling = intensity_scaling

    def forward(self, image: ImageLike) -> torch.Tensor:
        if isinstance(image, torch.Tensor) and image.ndim == 4 and image.is_floating_point():
            return match_channels(image, self.num_channels)  # a batch, already in [0, 1]
        tensor = to_channels_first_tensor(image, self.intensity_scaling)
        if tensor.dtype == torch.uint8:
            tensor = tensor.float().div_(255.0)
        return match_channels(tensor, self.num_channels)


class Clamp01(torch.nn.Module):
    """Colour jitter can leave [0, 1]; normalisation expects it."""

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return image.clamp(0.0, 1.0)


def _blur(size: int) -> v2.Transform:
    kernel = max(3, (size // 10) | 1)  # odd, about a tenth of the side
    return v2.RandomApply([v2.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=0.5)


def _jitter(strength: Sequence[float], grayscale: bool = True) -> list[v2.Transform]:
    steps = [v2.RandomApply([v2.ColorJitter(*strength)], p=0.8)]
    return steps + ([v2.RandomGrayscale(p=0.2)] if grayscale else [])


def _crop(size: int, smallest: float) -> v2.Transform:
    return v2.RandomResizedCrop(size, scale=(smallest, 1.0), antialias=True)


def _preset_steps(preset: str, size: int) -> list[v2.Transform]:
    resize = [v2.Resize(size, antialias=True), v2.CenterCrop(size)]
    quarter_turns = v2.RandomChoice(
        [v2.RandomRotation((angle, angle)) for angle in (0, 90, 180, 270)]
    )
    steps = {
        "mocov2": [
            _crop(size, 0.2),
            *_jitter(STRONG_JITTER),
            _blur(size),
            v2.RandomHorizontalFlip(),
        ],
        "xray": [
            _crop(size, 0.5),
            v2.RandomRotation(15),
            v2.RandomApply([v2.ColorJitter(brightness=0.4, contrast=0.4)], p=0.8),
            _blur(size),
        ],
        "histopathology": [
            _crop(size, 0.4),
            v2.RandomHorizontalFlip(),
            v2.RandomVerticalFlip(),
            quarter_turns,
            *_jitter(STRONG_JITTER),
            _blur(size),
        ],
        "fundus": [
            _crop(size, 0.5),
            v2.RandomHorizontalFlip(),
            v2.RandomRotation(30),
            *_jitter((0.2, 0.2, 0.1, 0.02), grayscale=False),
            _blur(size),
        ],
        "paper-nih": [*resize, *_jitter(STRONG_JITTER), _blur(size), v2.RandomRotation(30)],
        "paper-bch": [
            _crop(size, 0.4),
            *_jitter(STRONG_JITTER),
            _blur(size),
            v2.RandomHorizontalFlip(),
        ],
        "paper-dr": [
            *resize,
            *_jitter(STRONG_JITTER),
            _blur(size),
            v2.RandomRotation(30),
            v2.RandomHorizontalFlip(),
        ],
    }
    if preset not in steps:
        raise ValueError(
            f"Unknown augmentation preset {preset!r}; expected one of {', '.join(PRESETS)}."
        )
    return steps[preset]


def view_transform(
    preset: str,
    size: int,
    num_channels: int = 1,
    image_mean: Sequence[float] | None = None,
    image_std: Sequence[float] | None = None,
    intensity_scaling: str = "dtype",
) -> v2.Compose:
    """One augmented view: the preset's steps between intensity conversion and normalisation."""
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}.")
    default_mean, default_std = default_normalization(num_channels)
    mean, std = list(image_mean or default_mean), list(image_std or default_std)
    return v2.Compose(
        [
            ToFloatImage(num_channels, intensity_scaling),
            *_preset_steps(preset, size),
            Clamp01(),
            v2.Normalize(mean, std),
        ]
    )


class TwoViews:
    """Two independent draws of a view transform: the query and key inputs of MoCo."""

    def __init__(self, transform: v2.Transform):
        self.transform = transform

    def __call__(self, image: ImageLike) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(image), self.transform(image)

    def __repr__(self) -> str:
        return f"TwoViews({self.transform})"


def two_view_transform(preset: str, size: int, num_channels: int = 1, **kwargs) -> TwoViews:
    """`TwoViews` of `view_transform(preset, size, num_channels, **kwargs)`."""
    return TwoViews(view_transform(preset, size, num_channels, **kwargs))
