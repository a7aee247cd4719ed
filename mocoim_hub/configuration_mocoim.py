"""Configuration of MoCo-IM encoders: architecture, input convention and pretraining provenance."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from transformers import PreTrainedConfig
from transformers.backbone_utils import BackboneConfigMixin

# torchvision ResNets: block type and number of blocks per stage.
BACKBONES: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
    "resnet152": ("bottleneck", (3, 8, 36, 3)),
}
STEMS = (
    "imagenet",
    "small",
)  # 7x7/2 conv + max-pool, or 3x3/1 conv without max-pool (small images)
STAGE_NAMES = ("stem", "layer1", "layer2", "layer3", "layer4")
INTERMEDIATE_LOSSES = ("none", "mse", "barlow")

# ImageNet statistics; for one channel, their mean over RGB, which keeps a first conv made by
# summing RGB filters consistent with what it saw during ImageNet training.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GRAY_MEAN = (round(sum(IMAGENET_MEAN) / 3, 4),)
GRAY_STD = (round(sum(IMAGENET_STD) / 3, 4),)


def default_normalization(num_channels: int) -> tuple[list[float], list[float]]:
    """Mean and std for inputs of `num_channels` channels when none are given."""
    return (
        (list(GRAY_MEAN), list(GRAY_STD))
        if num_channels == 1
        else (list(IMAGENET_MEAN), list(IMAGENET_STD))
    )


MAX_IMAGE_SIZE = 4096  # pixels per side; a ResNet on larger inputs would not fit in memory
MAX_LABELS = 10_000  # a classifier head's size is checked before transformers allocates its labels


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def are_numbers(value: Any, low: float = -math.inf, low_inclusive: bool = True) -> bool:
    """A list or tuple of finite numbers (no bools, no strings), each above `low`."""
    return isinstance(value, (list, tuple)) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        and (v >= low if low_inclusive else v > low)
        for v in value
    )  # fmt: skip


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) and value in choices


def _is_index(value: Any) -> bool:
    """A class index as transformers keeps it: an int, or its digits (JSON keys are strings)."""
    return is_int(value) or (isinstance(value, str) and value.isdigit())


def _distinct_stages(value: Any) -> bool:
    return (
        isinstance(value, list)
        and all(is_int(stage) and 1 <= stage <= 4 for stage in value)
        and len(set(value)) == len(value)
    )


def _label_names(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and len(value) <= MAX_LABELS
        and all(_is_index(index) for index in value)
        and all(isinstance(name, str) for name in value.values())
    )


def _label_indices(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and all(isinstance(name, str) for name in value)
        and all(_is_index(index) for index in value.values())
    )


# Each field's type and range, checked before anything is built from it: (check, what is valid).
FIELD_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "backbone": (_one_of(tuple(BACKBONES)), f"one of {', '.join(BACKBONES)}"),
    "num_channels": (lambda v: is_int(v) and v in (1, 3), "1 (grayscale) or 3 (RGB)"),
    "stem": (_one_of(STEMS), f"one of {', '.join(STEMS)}"),
    "zero_init_residual": (lambda v: isinstance(v, bool), "true or false"),
    "image_size": (
        lambda v: is_int(v) and 8 <= v <= MAX_IMAGE_SIZE,
        f"an integer number of pixels in 8..{MAX_IMAGE_SIZE}",
    ),
    "image_mean": (_optional(are_numbers), "a list of finite numbers, one per channel"),
    "image_std": (
        _optional(lambda v: are_numbers(v, 0.0, low_inclusive=False)),
        "a list of positive finite numbers, one per channel",
    ),
    "pretraining_recipe": (_optional(lambda v: isinstance(v, str)), "a string or null"),
    "pretraining_dataset": (_optional(lambda v: isinstance(v, str)), "a string or null"),
    "intermediate_loss": (
        _optional(_one_of(INTERMEDIATE_LOSSES)),
        f"one of {', '.join(INTERMEDIATE_LOSSES)}, or null for an encoder not pretrained here",
    ),
    "intermediate_layers": (
        _optional(_distinct_stages),
        "a list of distinct stage numbers in 1..4",
    ),
    "intermediate_weights": (
        _optional(lambda v: isinstance(v, list) and are_numbers(v, 0.0)),
        "a list of numbers >= 0, one per intermediate layer",
    ),
    "pretraining_hparams": (_optional(lambda v: isinstance(v, dict)), "a dict of settings or null"),
    "pretraining_data": (_optional(lambda v: isinstance(v, dict)), "a dict of counts or null"),
    "finetuning_hparams": (_optional(lambda v: isinstance(v, dict)), "a dict of settings or null"),
    "id2label": (
        _optional(_label_names),
        f"a map of class index -> name with at most {MAX_LABELS} classes",
    ),
    "label2id": (_optional(_label_indices), "a map of class name -> index"),
    "num_labels": (
        _optional(lambda v: is_int(v) and 1 <= v <= MAX_LABELS),
        f"an integer number of classes in 1..{MAX_LABELS}",
    ),
}


def check_fields(values: dict[str, Any]) -> None:
    """Raise a ValueError naming the first field in `values` whose type or range is wrong."""
    for name, (check, valid) in FIELD_RULES.items():
        if name in values and not check(values[name]):
            raise ValueError(f"Expected {name} to be {valid}, but got {values[name]!r}.")


class MocoImConfig(BackboneConfigMixin, PreTrainedConfig):
    r"""
    Configuration of a MoCo-IM encoder (a torchvision ResNet pretrained with MoCo v2 plus an
    intermediate-layer loss; Kaku et al., NeurIPS 2021, arXiv:2110.14805).

    Attributes:
        backbone: torchvision ResNet name, one of `BACKBONES`.
        num_channels: input channels, 1 (grayscale, e.g. X-ray) or 3 (RGB, e.g. fundus, histology).
        stem: `"imagenet"` (7x7 stride-2 conv + max-pool) or `"small"` (3x3 stride-1 conv, no
            max-pool) for inputs of about 64 px or less.
        zero_init_residual: zero the last BatchNorm of each residual block at initialisation.
        image_size: side of the square input the encoder was trained on.
        image_mean: per-channel means the image processor subtracts.
        image_std: per-channel standard deviations the image processor divides by.
        pretraining_recipe: the recipe the weights were pretrained with (for model cards).
        pretraining_dataset: the dataset they were pretrained on (for model cards).
        intermediate_loss: `"none"` (plain MoCo v2), `"mse"` or `"barlow"`; `None` if not pretrained.
        intermediate_layers: stages (1..4) the intermediate loss was applied to.
        intermediate_weights: weight of the loss at each of those stages.
        pretraining_hparams: the full resolved pretraining recipe, rendered into model cards.
        pretraining_data: what pretraining read (name, images, DICOM files, patients, splits used),
            for the model cards of models trained on a user's own images.
        finetuning_hparams: for a fine-tuned classifier, how it was fine-tuned (dataset, label
            fraction, optimiser settings, chosen epoch), rendered into its model card.
        out_features: the stages `MocoImBackbone` returns, by name (`STAGE_NAMES`); default
            the last.
        out_indices: the same stages by index (0..4).

    Example:
    ```python
    >>> from mocoim_hub import MocoImConfig, MocoImModel
    >>> model = MocoImModel(MocoImConfig(backbone="resnet18", num_channels=1))
    ```
    """

    model_type = "mocoim"

    backbone: str = "resnet50"
    num_channels: int = 1
    stem: str = "imagenet"
    zero_init_residual: bool = True
    image_size: int = 224
    image_mean: list[float] | None = None
    image_std: list[float] | None = None
    pretraining_recipe: str | None = None
    pretraining_dataset: str | None = None
    intermediate_loss: str | None = None
    intermediate_layers: list[int] | None = None
    intermediate_weights: list[float] | None = None
    pretraining_hparams: dict[str, Any] | None = None
    pretraining_data: dict[str, Any] | None = None
    finetuning_hparams: dict[str, Any] | None = None

    def __post_init__(self, **kwargs):
        check_fields({**vars(self), **kwargs})  # before transformers builds labels from them
        self.stage_names = list(STAGE_NAMES)
        self.set_output_features_output_indices(
            out_features=kwargs.pop("out_features", None),
            out_indices=kwargs.pop("out_indices", None),
        )
        mean, std = default_normalization(self.num_channels if self.num_channels in (1, 3) else 1)
        self.image_mean = list(self.image_mean if self.image_mean is not None else mean)
        self.image_std = list(self.image_std if self.image_std is not None else std)
        super().__post_init__(**kwargs)
        self.validate()

    def validate(self) -> None:
        """Field types and ranges, transformers' checks, then ours across fields, each raising a
        ValueError that names the field. Runs
        at construction and again in `save_pretrained`, so a config edited after construction is
        never written in a state that cannot be loaded."""
        check_fields(vars(self))
        super().validate()
        self._check_normalization()
        self._check_labels()
        self._check_provenance()

    def _check_normalization(self) -> None:
        for name, values in (("image_mean", self.image_mean), ("image_std", self.image_std)):
            _expect(
                len(values) == self.num_channels,
                f"Expected {self.num_channels} value(s) in {name} (one per channel) but got "
                f"{len(values)}: {values}.",
            )

    def _check_labels(self) -> None:
        ids = sorted(self.id2label)
        names = list(self.id2label.values())
        _expect(
            ids == list(range(len(ids))),
            f"id2label must number the classes 0..{len(ids) - 1}, got ids {ids}; renumber them.",
        )
        _expect(
            len(set(names)) == len(names),
            f"id2label names must be distinct, got {names}; a repeated name is ambiguous.",
        )
        # transformers accepts label2id values written as strings ("0"), as JSON round trips do
        given = {name: int(i) for name, i in (self.label2id or {}).items()}
        inverse = {name: i for i, name in self.id2label.items()}
        _expect(
            not self.label2id or given == inverse,
            f"label2id {self.label2id} is not the inverse of id2label {self.id2label}; give one "
            "of them or make them agree.",
        )

    def _check_provenance(self) -> None:
        layers = list(self.intermediate_layers or [])
        weights = list(self.intermediate_weights or [])
        _expect(
            len(weights) == len(layers),
            f"Expected one intermediate weight per layer ({len(layers)} layers: {layers}) but got "
            f"{len(weights)} weights: {weights}.",
        )

    @classmethod
    def from_dict(cls, config_dict: Any, **kwargs: Any) -> MocoImConfig:
        """`PreTrainedConfig.from_dict`, with a clear error for a config file that holds no object."""
        _expect(
            isinstance(config_dict, dict),
            f"Expected config.json to hold a JSON object of settings but it holds a "
            f"{type(config_dict).__name__}: {str(config_dict)[:80]}.",
        )
        return super().from_dict(config_dict, **kwargs)

    @property
    def block_type(self) -> str:
        return BACKBONES[self.backbone][0]

    @property
    def hidden_sizes(self) -> list[int]:
        """Channels of each entry of `hidden_states`: stem, layer1..layer4."""
        expansion = 4 if self.block_type == "bottleneck" else 1
        return [64] + [width * expansion for width in (64, 128, 256, 512)]

    @property
    def hidden_size(self) -> int:
        """Size of the pooled embedding."""
        return self.hidden_sizes[-1]


__all__ = ["MocoImConfig"]
