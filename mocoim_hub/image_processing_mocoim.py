"""Image processor for MoCo-IM encoders: any medical image in, the tensor the encoder expects out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import PIL.Image
import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature

from .configuration_mocoim import MAX_IMAGE_SIZE, are_numbers, default_normalization, is_int
from .imaging import (
    DECODE_BUDGET,
    INTENSITY_SCALINGS,
    ImageLike,
    is_dicom_dataset,
    load_image,
    pil_to_array,
    scale_intensity,
)
from .sources import check_model_source

RESAMPLING = {
    "nearest": InterpolationMode.NEAREST_EXACT,
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
}
OPTIONS = (
    "num_channels", "do_resize", "size", "resample", "do_center_crop", "crop_size",
    "do_normalize", "image_mean", "image_std", "intensity_scaling", "channels_first",
)  # fmt: skip
# ITU-R 601 luma, the weights PIL uses for RGB -> L.
LUMA = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)


class MocoImImageProcessor(BaseImageProcessor):
    r"""
    Turns PIL images (modes 1, L, LA, I, I;16, F, RGB, RGBA, P, CMYK, ...), numpy arrays, torch
    tensors, or paths of image/DICOM files into normalised `pixel_values` of shape
    `(batch, num_channels, crop_height, crop_width)`.

    Steps: intensities to [0, 1] (16-bit stays 16-bit; see `mocoim_hub.imaging`), resize,
    center-crop, convert to the model's channel count (RGB -> gray by ITU-R 601 luma, gray -> RGB by
    repetition), normalise with `image_mean`/`image_std`.

    Args:
        num_channels: channels the model takes, 1 or 3.
        do_resize: whether to resize.
        size: `{"shortest_edge": s}` (keeps the aspect ratio) or `{"height": h, "width": w}`.
        resample: `"bilinear"`, `"bicubic"` or `"nearest"`.
        do_center_crop: whether to crop from the centre.
        crop_size: the crop, `{"height": h, "width": w}`.
        do_normalize: whether to normalise per channel.
        image_mean: per-channel means subtracted.
        image_std: per-channel standard deviations divided by.
        intensity_scaling: `"dtype"` (by bit depth) or `"minmax"` (each image to its own range).
        channels_first: layout of 3-D arrays/tensors; `None` guesses (HWC for numpy, CHW for torch).
    """

    model_input_names = ["pixel_values"]

    def __init__(
        self,
        num_channels: int = 1,
        do_resize: bool = True,
        size: dict[str, int] | int | None = None,
        resample: str = "bilinear",
        do_center_crop: bool = True,
        crop_size: dict[str, int] | int | None = None,
        do_normalize: bool = True,
        image_mean: Sequence[float] | None = None,
        image_std: Sequence[float] | None = None,
        intensity_scaling: str = "dtype",
        channels_first: bool | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.num_channels = num_channels
        self.do_resize = do_resize
        self.size = _size_dict(size if size is not None else 224, "size", allow_shortest_edge=True)
        self.resample = resample
        self.do_center_crop = do_center_crop
        self.crop_size = _size_dict(crop_size if crop_size is not None else 224, "crop_size")
        self.do_normalize = do_normalize
        mean, std = default_normalization(num_channels)
        self.image_mean = mean if image_mean is None else image_mean
        self.image_std = std if image_std is None else image_std
        self.intensity_scaling = intensity_scaling
        self.channels_first = channels_first
        self._validate()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """`BaseImageProcessor.from_pretrained`; a local path that names no folder fails at once."""
        check_model_source(pretrained_model_name_or_path)
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)

    @classmethod
    def from_model_config(cls, config, **kwargs: Any) -> MocoImImageProcessor:
        """The processor matching a `MocoImConfig`: its channels, image size and normalisation."""
        defaults = dict(
            num_channels=config.num_channels,
            size={"shortest_edge": config.image_size},
            crop_size=config.image_size,
            image_mean=config.image_mean,
            image_std=config.image_std,
        )
        return cls(**{**defaults, **kwargs})

    @classmethod
    def from_dict(cls, image_processor_dict: Any, **kwargs: Any) -> MocoImImageProcessor:
        """`BaseImageProcessor.from_dict`, with a clear error for a file that holds no object."""
        if not isinstance(image_processor_dict, dict):
            raise ValueError(
                "Expected preprocessor_config.json to hold a JSON object of settings but it holds "
                f"a {type(image_processor_dict).__name__}: {str(image_processor_dict)[:80]}."
            )
        return super().from_dict(image_processor_dict, **kwargs)

    def _validate(self) -> None:
        if not (is_int(self.num_channels) and self.num_channels in (1, 3)):
            raise ValueError(f"Expected num_channels 1 or 3 but got {self.num_channels!r}.")
        for name in ("do_resize", "do_center_crop", "do_normalize"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"Expected {name} to be true or false but got {getattr(self, name)!r}."
                )
        if self.channels_first not in (None, True, False):
            raise ValueError(
                f"Expected channels_first to be true, false or null but got {self.channels_first!r}."
            )
        if not isinstance(self.resample, str) or self.resample not in RESAMPLING:
            raise ValueError(
                f"Unknown resample {self.resample!r}; expected one of {', '.join(RESAMPLING)}."
            )
        if (
            not isinstance(self.intensity_scaling, str)
            or self.intensity_scaling not in INTENSITY_SCALINGS
        ):
            raise ValueError(
                f"Unknown intensity_scaling {self.intensity_scaling!r}; expected one of "
                f"{', '.join(INTENSITY_SCALINGS)}."
            )
        for name in ("image_mean", "image_std"):  # checked, and stored as lists of floats
            setattr(self, name, _per_channel(getattr(self, name), self.num_channels, name))

    def preprocess(
        self, images: ImageLike | Sequence[ImageLike], return_tensors: str | None = "pt", **kwargs
    ) -> BatchFeature:
        """Process one image or a list (a 4-D array or tensor is taken as a batch).

        Besides this processor's own options it takes transformers' standard ones:
        `input_data_format` (`"channels_first"` / `"channels_last"`, the layout of arrays and
        tensors), `data_format` (only `"channels_first"`, the layout of `pixel_values`) and
        `do_convert_rgb` (channels are always converted to the model's, so it changes nothing).
        """
        kwargs = _standard_options(kwargs)
        unknown = set(kwargs) - set(OPTIONS)
        if unknown:
            raise ValueError(
                f"Unknown preprocessing option(s) {', '.join(sorted(unknown))}; expected some of "
                f"{', '.join(OPTIONS)}."
            )
        options = {name: getattr(self, name) for name in OPTIONS} | kwargs
        size = _size_dict(options["size"], "size", allow_shortest_edge=True)
        crop = _size_dict(options["crop_size"], "crop_size")
        options["resize_to"] = size.get("shortest_edge", [size.get("height"), size.get("width")])
        options["crop_to"] = [crop["height"], crop["width"]]
        for name in ("image_mean", "image_std"):
            options[name] = _per_channel(options[name], options["num_channels"], name)
        batch = [self._process_one(image, options) for image in _as_list(images)]
        if len({tuple(t.shape) for t in batch}) > 1:
            raise ValueError(
                "Images have different sizes after resizing; set do_center_crop=True or a fixed "
                "size {'height': h, 'width': w} to batch them."
            )
        pixel_values = torch.stack(batch)
        if options["do_normalize"]:
            mean = torch.tensor(options["image_mean"]).view(1, -1, 1, 1)
            std = torch.tensor(options["image_std"]).view(1, -1, 1, 1)
            pixel_values = (pixel_values - mean) / std
        if return_tensors in ("np", "numpy"):
            return BatchFeature({"pixel_values": pixel_values.numpy()})
        return BatchFeature({"pixel_values": pixel_values})

    def _process_one(self, image: ImageLike, options: dict[str, Any]) -> torch.Tensor:
        tensor = to_channels_first_tensor(
            image, options["intensity_scaling"], options["channels_first"]
        )
        if options["do_resize"]:
            resample = RESAMPLING[options["resample"]]
            target = options["resize_to"]  # an int is the shortest edge
            check_resize_budget(tensor.shape, target)
            tensor = TF.resize(tensor, target, interpolation=resample, antialias=True)
        if options["do_center_crop"]:
            tensor = TF.center_crop(tensor, options["crop_to"])
        if tensor.dtype == torch.uint8:
            tensor = tensor.float().div_(255.0)
        return match_channels(tensor.clamp_(0.0, 1.0), options["num_channels"])


def check_resize_budget(shape: Sequence[int], target: int | list[int]) -> None:
    """Refuse a resize whose output would take more than `DECODE_BUDGET` as float32: an extreme
    aspect ratio (a 1 x 1,000,000 strip is a 1 kB PNG) resized to a shortest edge of 224 would
    ask for gigabytes before the centre crop."""
    channels, height, width = shape[-3:]
    if isinstance(target, int):
        short, long = sorted((height, width))
        out = (target, int(target * long / short))
    else:
        out = tuple(target)
    size = out[0] * out[1] * channels * 4
    if size > DECODE_BUDGET:
        raise ValueError(
            f"An image of {width}x{height} pixels (aspect ratio {max(height, width) / min(height, width):,.0f}:1) "
            f"would resize to {out[1] if width > height else out[0]}x{out[0] if width > height else out[1]}: "
            f"{size / 2**20:,.0f} MiB as float32, over the decode budget of "
            f"{DECODE_BUDGET // 2**20} MiB. Crop it to a sensible aspect ratio, or resize to a "
            "fixed size {'height': h, 'width': w}."
        )


def _per_channel(values: Any, num_channels: int, name: str) -> list[float]:
    """`image_mean` / `image_std` as one float per channel; a single number applies to all."""
    if isinstance(values, (int, float)) and not isinstance(values, bool):
        values = [values] * num_channels
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if not are_numbers(values) or len(values) != num_channels:
        raise ValueError(
            f"Expected {num_channels} value(s) in {name} (finite numbers, one per channel of the "
            f"model's input), but got {values!r}."
        )
    if name == "image_std" and any(value <= 0 for value in values):
        raise ValueError(f"image_std must be positive, got {list(values)}.")
    return [float(value) for value in values]


def _standard_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """transformers' standard preprocessing options in this processor's terms."""
    kwargs = dict(kwargs)
    kwargs.pop("do_convert_rgb", None)
    layout = _layout_name(kwargs.pop("input_data_format", None))
    if layout is not None:
        if layout not in ("channels_first", "channels_last"):
            raise ValueError(
                f"Unknown input_data_format {layout!r}; expected 'channels_first' or "
                "'channels_last' (or None to infer it)."
            )
        kwargs["channels_first"] = layout == "channels_first"
    output_layout = _layout_name(kwargs.pop("data_format", None))
    if output_layout not in (None, "channels_first"):
        raise ValueError(
            f"data_format {output_layout!r} is not supported: pixel_values are always "
            "channels_first, (batch, channels, height, width), as the encoder takes them."
        )
    return kwargs


def _layout_name(layout: Any) -> str | None:
    """A layout given as a string or as transformers' `ChannelDimension` enum, as a string."""
    return None if layout is None else str(getattr(layout, "value", layout))


def to_channels_first_tensor(
    image: ImageLike, intensity_scaling: str = "dtype", channels_first: bool | None = None
) -> torch.Tensor:
    """One image as a CxHxW tensor with C in {1, 3}: uint8 kept as is (fast resizing), anything
    else float32 in [0, 1]."""
    if isinstance(image, (str, os.PathLike)) or is_dicom_dataset(image):
        image = load_image(image)
    if isinstance(image, PIL.Image.Image):
        array, channels_first = pil_to_array(image), False
    elif isinstance(image, torch.Tensor):
        array = image.detach().cpu()
        array = (array.float() if array.dtype == torch.bfloat16 else array).numpy()
        channels_first = True if channels_first is None else channels_first
    elif isinstance(image, np.ndarray):
        array = image
    else:
        raise ValueError(
            "Expected a PIL image, a numpy array, a torch tensor, an image or DICOM file path or a "
            "pydicom dataset, but got "
            f"{type(image).__name__}."
        )
    array = _to_hwc(array, channels_first)
    if array.dtype == np.uint8 and intensity_scaling == "dtype":
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    else:
        tensor = torch.from_numpy(scale_intensity(array, intensity_scaling))
    return tensor.permute(2, 0, 1)


def match_channels(tensor: torch.Tensor, num_channels: int) -> torch.Tensor:
    """Bring 1- or 3-channel float images, `(..., C, H, W)`, to `num_channels` channels."""
    if tensor.shape[-3] == num_channels:
        return tensor
    if num_channels == 1:
        return (tensor * LUMA).sum(dim=-3, keepdim=True)
    return tensor.expand(*tensor.shape[:-3], 3, -1, -1).contiguous()


def _to_hwc(array: np.ndarray, channels_first: bool | None) -> np.ndarray:
    """HxW, HxWxC or CxHxW -> HxWxC with C in {1, 3} (alpha and gray+alpha reduced)."""
    if array.ndim == 2:
        array = array[:, :, None]
    elif array.ndim == 3:
        if channels_first is None:  # guess: channels are the small axis
            channels_first = array.shape[-1] not in (1, 2, 3, 4) and array.shape[0] in (1, 2, 3, 4)
        if channels_first:
            array = array.transpose(1, 2, 0)
    else:
        raise ValueError(
            f"Expected an image of 2 (HxW) or 3 (HxWxC / CxHxW) dimensions but got shape "
            f"{tuple(array.shape)}."
        )
    height, width, channels = array.shape
    if height == 0 or width == 0:
        raise ValueError(f"Expected an image with pixels but got shape {tuple(array.shape)}.")
    if channels not in (1, 2, 3, 4):
        raise ValueError(
            f"Expected 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA) channels but got {channels} "
            f"(shape {tuple(array.shape)}); pass channels_first=True/False if the layout was guessed "
            "wrong."
        )
    return array[:, :, :1] if channels == 2 else array[:, :, :3]


def _as_list(images: Any) -> list[Any]:
    if isinstance(images, (list, tuple)):
        images = list(images)
    elif isinstance(images, (np.ndarray, torch.Tensor)) and images.ndim == 4:
        images = list(images)  # a batch
    else:
        images = [images]
    if not images:
        raise ValueError("Expected at least one image but got an empty list or batch.")
    return images


def _size_dict(size: Any, name: str, allow_shortest_edge: bool = False) -> dict[str, int]:
    if isinstance(size, int) and not isinstance(size, bool):
        size = {"shortest_edge": size} if allow_shortest_edge else {"height": size, "width": size}
    valid = (
        (["shortest_edge"], ["height", "width"]) if allow_shortest_edge else (["height", "width"],)
    )
    if (
        isinstance(size, dict)
        and sorted(size) in [sorted(keys) for keys in valid]
        and all(is_int(v) and 0 < v <= MAX_IMAGE_SIZE for v in size.values())
    ):
        return dict(size)
    forms = " or ".join("{" + ", ".join(f"'{k}': int" for k in keys) + "}" for keys in valid)
    raise ValueError(
        f"Expected {name} to be an int in 1..{MAX_IMAGE_SIZE} (pixels) or {forms} with values in "
        f"that range, but got {size!r}."
    )


__all__ = ["MocoImImageProcessor"]
