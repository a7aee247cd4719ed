"""Configuration of MoCo-IM encoders: architecture, input convention and pretraining provenance."""

from __future__ import annotations

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


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


class MocoImConfig(BackboneConfigMixin, PreTrainedConfig):
    r"""
    Configuration of a MoCo-IM encoder (a torchvision ResNet pretrained with MoCo v2 plus an
    intermediate-layer loss; Kaku et al., NeurIPS 2021, arXiv:2110.14805).

    Args:
        backbone: torchvision ResNet name, one of `BACKBONES`.
        num_channels: input channels, 1 (grayscale, e.g. X-ray) or 3 (RGB, e.g. fundus, histology).
        stem: `"imagenet"` (7x7 stride-2 conv + max-pool) or `"small"` (3x3 stride-1 conv, no
            max-pool) for inputs of about 64 px or less.
        zero_init_residual: zero the last BatchNorm of each residual block at initialisation.
        image_size: side of the square input the encoder was trained on.
        image_mean, image_std: per-channel normalisation applied by the image processor.
        pretraining_recipe, pretraining_dataset: where the weights come from (for model cards).
        intermediate_loss: `"none"` (plain MoCo v2), `"mse"` or `"barlow"`; `None` if not pretrained.
        intermediate_layers: stages (1..4) the intermediate loss was applied to.
        intermediate_weights: weight of the loss at each of those stages.
        pretraining_hparams: the full resolved pretraining recipe, rendered into model cards.
        finetuning_hparams: for a fine-tuned classifier, how it was fine-tuned (dataset, label
            fraction, optimiser settings, chosen epoch), rendered into its model card.
        out_features, out_indices: the stages `MocoImBackbone` returns (names in `STAGE_NAMES` or
            indices 0..4); default the last.

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
    finetuning_hparams: dict[str, Any] | None = None

    def __post_init__(self, **kwargs):
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
        """transformers' checks, then ours, each raising a ValueError that names the field. Runs
        at construction and again in `save_pretrained`, so a config edited after construction is
        never written in a state that cannot be loaded."""
        super().validate()
        self._check_encoder()
        self._check_normalization()
        self._check_labels()
        self._check_provenance()

    def _check_encoder(self) -> None:
        _expect(
            self.backbone in BACKBONES,
            f"Unknown backbone {self.backbone!r}; expected one of {', '.join(BACKBONES)}.",
        )
        _expect(
            self.num_channels in (1, 3) and not isinstance(self.num_channels, bool),
            f"Expected num_channels 1 (grayscale) or 3 (RGB) but got {self.num_channels!r}.",
        )
        _expect(
            self.stem in STEMS, f"Unknown stem {self.stem!r}; expected one of {', '.join(STEMS)}."
        )
        _expect(
            isinstance(self.image_size, int) and self.image_size >= 8,
            f"Expected image_size to be an integer of at least 8 pixels but got {self.image_size!r}.",
        )

    def _check_normalization(self) -> None:
        for name, values in (("image_mean", self.image_mean), ("image_std", self.image_std)):
            _expect(
                len(values) == self.num_channels,
                f"Expected {self.num_channels} value(s) in {name} (one per channel) but got "
                f"{len(values)}: {values}.",
            )
        _expect(
            all(s > 0 for s in self.image_std), f"image_std must be positive, got {self.image_std}."
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
        _expect(
            self.intermediate_loss is None or self.intermediate_loss in INTERMEDIATE_LOSSES,
            f"Unknown intermediate_loss {self.intermediate_loss!r}; expected one of "
            f"{', '.join(INTERMEDIATE_LOSSES)} (or None for an encoder that was not pretrained here).",
        )
        layers = list(self.intermediate_layers or [])
        weights = list(self.intermediate_weights or [])
        _expect(
            all(layer in (1, 2, 3, 4) for layer in layers) and len(set(layers)) == len(layers),
            f"intermediate_layers must be distinct stage numbers in 1..4, got {layers}.",
        )
        _expect(
            len(weights) == len(layers),
            f"Expected one intermediate weight per layer ({len(layers)} layers: {layers}) but got "
            f"{len(weights)} weights: {weights}.",
        )
        _expect(all(w >= 0 for w in weights), f"intermediate_weights must be >= 0, got {weights}.")
        for name in ("pretraining_hparams", "finetuning_hparams"):
            value = getattr(self, name)
            _expect(
                value is None or isinstance(value, dict),
                f"Expected {name} to be a dict of settings (or null) but got {value!r}.",
            )

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
