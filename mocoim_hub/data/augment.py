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
from dataclasses import dataclass

import torch
from torchvision.transforms import v2

from ..configuration_mocoim import default_normalization
from ..image_processing_mocoim import match_channels, to_channels_first_tensor
from ..imaging import ImageLike

STRONG_JITTER = (0.4, 0.4, 0.4, 0.1)


@dataclass(frozen=True)
class Preset:
    """One preset: its steps in order and their settings. The per-image pipeline
    (`view_transform`) runs the steps as listed; `BatchViews` warps every geometric step at once,
    then applies colour and blur."""

    steps: tuple[str, ...]  # of: resize, crop, hflip, vflip, quarter_turn, rotate, jitter, blur
    crop_scale: float = 1.0  # the smallest crop, as a fraction of the image area
    rotation: float = 0.0  # degrees either way
    jitter: tuple[float, float, float, float] = STRONG_JITTER  # brightness, contrast, sat., hue
    grayscale: bool = True  # after the jitter, with p=0.2


PRESET_SPECS = {
    "mocov2": Preset(("crop", "jitter", "blur", "hflip"), crop_scale=0.2),
    "xray": Preset(("crop", "rotate", "jitter", "blur"), crop_scale=0.5, rotation=15,
                   jitter=(0.4, 0.4, 0.0, 0.0), grayscale=False),
    "histopathology": Preset(("crop", "hflip", "vflip", "quarter_turn", "jitter", "blur"),
                             crop_scale=0.4),
    "fundus": Preset(("crop", "hflip", "rotate", "jitter", "blur"), crop_scale=0.5, rotation=30,
                     jitter=(0.2, 0.2, 0.1, 0.02), grayscale=False),
    "paper-nih": Preset(("resize", "jitter", "blur", "rotate"), rotation=30),
    "paper-bch": Preset(("crop", "jitter", "blur", "hflip"), crop_scale=0.4),
    "paper-dr": Preset(("resize", "jitter", "blur", "rotate", "hflip"), rotation=30),
}  # fmt: skip
PRESETS = tuple(PRESET_SPECS)
"""The names of the two-view augmentation presets (`two_view_transform(preset, ...)`)."""


def preset_spec(preset: str) -> Preset:
    if preset not in PRESET_SPECS:
        raise ValueError(
            f"Unknown augmentation preset {preset!r}; expected one of {', '.join(PRESETS)}."
        )
    return PRESET_SPECS[preset]


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


def blur_kernel_size(size: int) -> int:
    return max(3, (size // 10) | 1)  # odd, about a tenth of the side


def _step(name: str, preset: Preset, size: int) -> list[v2.Transform]:
    jitter = [v2.RandomApply([v2.ColorJitter(*preset.jitter)], p=0.8)]
    turns = [v2.RandomRotation((angle, angle)) for angle in (0, 90, 180, 270)]
    steps = {
        "resize": lambda: [v2.Resize(size, antialias=True), v2.CenterCrop(size)],
        "crop": lambda: [v2.RandomResizedCrop(size, (preset.crop_scale, 1.0), antialias=True)],
        "hflip": lambda: [v2.RandomHorizontalFlip()],
        "vflip": lambda: [v2.RandomVerticalFlip()],
        "quarter_turn": lambda: [v2.RandomChoice(turns)],
        "rotate": lambda: [v2.RandomRotation(preset.rotation)],
        "jitter": lambda: jitter + ([v2.RandomGrayscale(p=0.2)] if preset.grayscale else []),
        "blur": lambda: [
            v2.RandomApply([v2.GaussianBlur(blur_kernel_size(size), sigma=(0.1, 2.0))], p=0.5)
        ],
    }
    return steps[name]()


def _checked_size(size: int) -> int:
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}.")
    return size


def view_transform(
    preset: str,
    size: int,
    num_channels: int = 1,
    image_mean: Sequence[float] | None = None,
    image_std: Sequence[float] | None = None,
    intensity_scaling: str = "dtype",
) -> v2.Compose:
    """One augmented view: the preset's steps between intensity conversion and normalisation."""
    spec, size = preset_spec(preset), _checked_size(size)
    default_mean, default_std = default_normalization(num_channels)
    mean, std = list(image_mean or default_mean), list(image_std or default_std)
    return v2.Compose(
        [
            ToFloatImage(num_channels, intensity_scaling),
            *[step for name in spec.steps for step in _step(name, spec, size)],
            Clamp01(),
            v2.Normalize(mean, std),
        ]
    )


def fixed_size_transform(
    size: int, num_channels: int = 1, intensity_scaling: str = "dtype"
) -> v2.Compose:
    """Image -> float `(num_channels, size, size)` in [0, 1], resized and centre-cropped: what a
    DataLoader yields for `BatchViews` to augment."""
    return v2.Compose(
        [
            ToFloatImage(num_channels, intensity_scaling),
            v2.Resize(_checked_size(size), antialias=True),
            v2.CenterCrop(size),
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
