"""Two-view augmentation of whole batches as tensor operations, on the training device.

`BatchViews` applies an augmentation preset (`mocoim_hub.data.augment`) to a batch of fixed-size
images (`fixed_size_transform`) with each sample's own random parameters. Crop, flips, quarter
turns and rotation become one affine warp per sample (`affine_grid` + `grid_sample`); colour
jitter, grayscale and Gaussian blur then act on the whole batch. A few batched operations replace
hundreds of small per-image ones, so the DataLoader only decodes and augmentation stops competing
with the training step for CPU cores (or runs on the GPU).

A sample's parameters are drawn from its own seed, so its views do not depend on the batch,
process or device it lands in. Same distributions as the per-image pipeline, except:
- crops are cut from the `size`-pixel image rather than the original resolution;
- rotation fills from the image beyond the crop (zeros only beyond the image);
- colour jitter applies brightness, contrast, saturation, hue in this order, not a random one;
- a crop whose aspect ratio does not fit is clipped to the image, not redrawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch.nn import functional as F

from ..configuration_mocoim import default_normalization
from .augment import blur_kernel_size, preset_spec

# One uniform draw per parameter and view, by column.
AREA, RATIO, CENTRE_X, CENTRE_Y, HFLIP, VFLIP, TURN, ANGLE = range(8)
JITTER, BRIGHTNESS, CONTRAST, SATURATION, HUE, GRAY, BLUR, SIGMA = range(8, 16)
DRAWS = 16


def uniforms_from_seeds(seeds: torch.Tensor, count: int) -> torch.Tensor:
    """`(len(seeds), count)` uniforms in [0, 1), row i from a generator seeded with `seeds[i]`."""
    return torch.stack(
        [torch.rand(count, generator=torch.Generator().manual_seed(s)) for s in seeds.tolist()]
    )


class BatchViews(torch.nn.Module):
    """`(images, seeds) -> (view1, view2)`: two normalised augmented views of a float batch
    `(B, C, size, size)` in [0, 1], each sample's parameters drawn from its int64 seed."""

    def __init__(
        self,
        preset: str,
        size: int,
        num_channels: int = 1,
        image_mean: Sequence[float] | None = None,
        image_std: Sequence[float] | None = None,
    ):
        super().__init__()
        self.preset, self.spec, self.size = preset, preset_spec(preset), size
        default_mean, default_std = default_normalization(num_channels)
        shape = (1, num_channels, 1, 1)
        self.register_buffer("mean", torch.tensor(image_mean or default_mean).view(shape), False)
        self.register_buffer("std", torch.tensor(image_std or default_std).view(shape), False)

    def forward(
        self, images: torch.Tensor, seeds: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        draws = uniforms_from_seeds(seeds, 2 * DRAWS).to(images.device)
        return self.view(images, draws[:, :DRAWS]), self.view(images, draws[:, DRAWS:])

    def view(self, images: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """One view of `images` from the uniforms `u` (`(B, DRAWS)`)."""
        x = self._warp(images.float(), u)
        if "jitter" in self.spec.steps:
            x = self._jitter(x, u)
        if "blur" in self.spec.steps:
            x = self._blur(x, u)
        return (x.clamp(0.0, 1.0) - self.mean) / self.std

    def _warp(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Every geometric step as one affine map from output to input coordinates in [-1, 1]."""
        steps, ones = self.spec.steps, torch.ones_like(u[:, 0])
        width = height = ones
        centre_x = centre_y = torch.zeros_like(ones)
        if "crop" in steps:  # RandomResizedCrop: area in [crop_scale, 1], ratio in [3/4, 4/3]
            area = self.spec.crop_scale + (1 - self.spec.crop_scale) * u[:, AREA]
            log_ratio = math.log(3 / 4) + math.log(16 / 9) * u[:, RATIO]
            width = (area * log_ratio.exp()).sqrt().clamp(max=1.0)
            height = (area / log_ratio.exp()).sqrt().clamp(max=1.0)
            centre_x = (2 * u[:, CENTRE_X] - 1) * (1 - width)
            centre_y = (2 * u[:, CENTRE_Y] - 1) * (1 - height)
        angle = torch.zeros_like(ones)
        if "rotate" in steps:
            angle = angle + (2 * u[:, ANGLE] - 1) * math.radians(self.spec.rotation)
        if "quarter_turn" in steps:
            angle = angle + (4 * u[:, TURN]).floor() * (math.pi / 2)
        flip_x = torch.where(u[:, HFLIP] < 0.5, -1.0, 1.0) if "hflip" in steps else ones
        flip_y = torch.where(u[:, VFLIP] < 0.5, -1.0, 1.0) if "vflip" in steps else ones
        cos, sin = angle.cos(), angle.sin()
        theta = torch.stack(
            [
                torch.stack([width * cos * flip_x, -width * sin * flip_y, centre_x], 1),
                torch.stack([height * sin * flip_x, height * cos * flip_y, centre_y], 1),
            ],
            1,
        )
        grid = F.affine_grid(theta, [len(x), x.shape[1], self.size, self.size], align_corners=False)
        # edges repeat for the half pixel at a crop's border; zeros where rotation leaves the image
        warped = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return warped * (grid.abs() <= 1 + 1e-6).all(-1).unsqueeze(1)

    def _jitter(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """ColorJitter with p=0.8, then RandomGrayscale with p=0.2 (colour images)."""
        brightness, contrast, saturation, hue = self.spec.jitter
        applied = (u[:, JITTER] < 0.8).float()

        def factor(column: int, strength: float) -> torch.Tensor:
            return (1 + applied * strength * (2 * u[:, column] - 1)).view(-1, 1, 1, 1)

        x = (x * factor(BRIGHTNESS, brightness)).clamp(0, 1)
        mean = _gray(x).mean((1, 2, 3), keepdim=True)
        x = _blend(x, mean, factor(CONTRAST, contrast))
        if x.shape[1] == 3:
            x = _blend(x, _gray(x), factor(SATURATION, saturation))
            if hue > 0:
                x = _shift_hue(x, applied * hue * (2 * u[:, HUE] - 1))
            if self.spec.grayscale:
                x = torch.where((u[:, GRAY] < 0.2).view(-1, 1, 1, 1), _gray(x).expand_as(x), x)
        return x

    def _blur(self, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """GaussianBlur with sigma in [0.1, 2] and reflected borders, with p=0.5."""
        size, channels = blur_kernel_size(self.size), x.shape[1]
        sigma = (0.1 + 1.9 * u[:, SIGMA]).repeat_interleave(channels).view(-1, 1)
        offsets = torch.arange(size, device=x.device, dtype=x.dtype) - size // 2
        kernels = torch.exp(-(offsets**2) / (2 * sigma**2))
        kernels = (kernels / kernels.sum(1, keepdim=True)).view(-1, 1, size, 1)
        flat = F.pad(x.reshape(1, -1, *x.shape[2:]), [size // 2] * 4, mode="reflect")
        flat = F.conv2d(flat, kernels, groups=len(kernels))
        flat = F.conv2d(flat, kernels.transpose(2, 3), groups=len(kernels))
        blurred = flat.view_as(x)
        return torch.where((u[:, BLUR] < 0.5).view(-1, 1, 1, 1), blurred, x)


def _gray(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    return (0.2989 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).clamp(0, 1)


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return (factor * x + (1 - factor) * other).clamp(0, 1)


def _shift_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the hue of RGB images in [0, 1] by `shift` turns (one per image)."""
    value, largest = x.max(1)
    chroma = value - x.min(1).values
    r, g, b = x.unbind(1)
    safe = chroma.clamp_min(1e-8)
    hue = torch.where(
        largest == 0,
        ((g - b) / safe) % 6,
        torch.where(largest == 1, (b - r) / safe + 2, (r - g) / safe + 4),
    )
    hue = (torch.where(chroma > 0, hue / 6, 0.0) + shift.view(-1, 1, 1)) % 1
    saturation = torch.where(value > 0, chroma / value.clamp_min(1e-8), 0.0)

    def channel(n: int) -> torch.Tensor:
        k = (n + hue * 6) % 6
        return value - value * saturation * torch.minimum(k, 4 - k).clamp(0, 1)

    return torch.stack([channel(5), channel(3), channel(1)], 1)
