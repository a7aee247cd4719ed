"""Pretraining recipes: every setting of a run in one validated dataclass, loaded from JSON
(`recipes/*.json` beside this module, shipped with the package) and overridable field by field
(from Python as keyword arguments, on the command line as `--field` options)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..configuration_mocoim import BACKBONES, INTERMEDIATE_LOSSES, STEMS
from ..data.augment import PRESETS
from ..data.kinds import (
    DATA_PATH_HELP,
    DATASETS,
    TABLE_OPTIONS,
    check_dataset,
    kind_for,
    kinds_help,
)
from ..precision import PRECISIONS
from .losses.barlow import WEIGHTINGS
from .losses.mse import FORMS
from .optim import OPTIMIZERS
from .schedules import LR_SCHEDULES
from .trackers import TRACKERS

RECIPE_DIR = Path(__file__).resolve().parent / "recipes"
# `--help` of the recipe fields a user names most (the others: docs/guides/pretraining.md)
FIELD_HELP = {
    "dataset": f"dataset kind, inferred from --data-path when the recipe's reads no path: {kinds_help()}",
    "data_path": DATA_PATH_HELP,
    **TABLE_OPTIONS,
    "dataset_name": "what the model card calls the data (default: the folder's name)",
    "pretrain_on": "all: every image (but the validation split the kNN monitor scores); train: "
    "only the train split, keeping validation/test unseen for evaluation",
    "on_bad_image": "an unreadable image stops the run (error) or is skipped and counted (skip)",
    "init_from": "a MoCo-IM model folder or Hub id whose weights both encoders start from",
    "knn_every": "run the monitor every N steps (kNN score with labels, embedding rank always)",
}


# Fields a resumed run may change: its length, what it logs, and torch.compile (the same
# computation). Any other change would make the continued run another experiment than the one
# its checkpoint started.
RESUMABLE_CHANGES = ("name", "epochs", "max_steps", "log_every", "checkpoint_every", "knn_every",
                     "snapshot_every", "report_to", "compile")  # fmt: skip


@dataclass
class PretrainRecipe:
    """All settings of a pretraining run (docs/guides/pretraining.md says what they mean)."""

    name: str = "custom"
    # data: `dataset` is a kind of `mocoim_hub.data.kinds.DATASETS` (inferred from `data_path` when
    # the recipe's kind reads no path); the table options name a CSV/TSV file's columns;
    # pretrain_on "all" uses every image (but the validation split the kNN monitor scores on),
    # "train" only the train split (validation/test kept unseen for evaluation on the same
    # splits); dataset_name is what model cards call the data (default: the folder's name)
    dataset: str = "default"
    data_path: str | None = None
    dataset_name: str | None = None
    image_column: str | None = None
    label_column: str | None = None
    patient_column: str | None = None
    label_separator: str | None = None
    labels: list[str] | None = None
    pretrain_on: str = "all"
    on_bad_image: str = "error"
    augmentation: str = "xray"
    batch_augmentation: bool = False  # augment whole batches on the device (`BatchViews`)
    num_workers: int = 2
    # encoder; init_from: a MoCo-IM model folder or Hub id whose weights both encoders start from
    init_from: str | None = None
    backbone: str = "resnet18"
    num_channels: int = 1
    stem: str = "imagenet"
    image_size: int = 32
    zero_init_residual: bool = True
    # BatchNorm: split into groups per device, shuffle the key batch (None: whenever statistics
    # are per process or per group), SyncBN across GPUs; compile: torch.compile the encoders
    bn_splits: int = 1
    shuffle_bn: bool | None = None
    sync_bn: bool = False
    compile: bool = False
    dim: int = 128
    mlp: bool = True
    temperature: float = 0.2
    queue_size: int = 4096
    momentum: float = 0.99
    momentum_schedule: str = "constant"
    # intermediate-layer loss
    intermediate_loss: str = "none"
    intermediate_layers: list[int] = field(default_factory=lambda: [1, 2, 3, 4])
    intermediate_weights: list[float] = field(default_factory=lambda: [0.25, 0.25, 0.25, 0.25])
    mse_form: str = "pooled"
    mse_grids: list[int] = field(default_factory=lambda: [16, 16, 4, 4])
    mse_normalize: bool = False
    barlow_weighting: str = "standard"
    barlow_dim: int = 2048
    # optimisation
    optimizer: str = "sgd"
    lr: float = 0.06
    weight_decay: float = 1e-4
    sgd_momentum: float = 0.9
    lr_schedule: str = "cosine"
    warmup_steps: int = 0
    batch_size: int = 256
    grad_accumulation: int = 1
    epochs: int = 10
    max_steps: int | None = None
    precision: str = "bf16"
    channels_last: bool = True
    seed: int = 0
    # bookkeeping; knn_every > 0 runs the kNN monitor on the validation split every that many
    # steps; snapshot_every > 0 saves the query encoder to snapshots/step-NNNNNN that often;
    # report_to: experiment trackers besides metrics.jsonl ("a,b" accepted; [] or "none": none)
    log_every: int = 10
    checkpoint_every: int = 100
    knn_every: int = 0
    snapshot_every: int = 0
    report_to: list[str] = field(default_factory=lambda: ["tensorboard"])

    def __post_init__(self):
        names = [name for item in self.report_to for name in item.split(",") if name]
        self.report_to = [name for name in names if name != "none"]
        unknown = [name for name in self.report_to if name not in TRACKERS]
        if unknown:
            raise ValueError(
                f"Unknown report_to {unknown}; expected some of {', '.join(TRACKERS)} (or none)."
            )
        choices = {
            "dataset": tuple(DATASETS), "augmentation": PRESETS, "backbone": tuple(BACKBONES),
            "stem": STEMS, "intermediate_loss": INTERMEDIATE_LOSSES, "mse_form": FORMS,
            "barlow_weighting": WEIGHTINGS, "optimizer": OPTIMIZERS, "lr_schedule": LR_SCHEDULES,
            "momentum_schedule": ("constant", "cosine"), "precision": PRECISIONS,
            "pretrain_on": ("all", "train"), "on_bad_image": ("error", "skip"),
        }  # fmt: skip
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise ValueError(
                    f"Unknown {name} {getattr(self, name)!r}; expected one of {', '.join(valid)}."
                )
        check_dataset(self.dataset, self.data_path, self.table_options, need_path=False)
        positive = ("bn_splits", "image_size", "dim", "queue_size", "batch_size", "grad_accumulation", "epochs",
                    "log_every", "checkpoint_every", "barlow_dim")  # fmt: skip
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if len(self.intermediate_weights) != len(self.intermediate_layers):
            raise ValueError(
                f"Expected one weight per intermediate layer: layers {self.intermediate_layers}, "
                f"weights {self.intermediate_weights}."
            )
        if len(self.mse_grids) != len(self.intermediate_layers):
            raise ValueError(f"Expected one mse_grid per intermediate layer, got {self.mse_grids}.")
        if self.queue_size % (self.batch_size) != 0:
            raise ValueError(
                f"queue_size ({self.queue_size}) must be a multiple of batch_size ({self.batch_size}) "
                "so that the queue is replaced in whole batches."
            )
        if self.lr <= 0 or not 0 < self.temperature or not 0 <= self.momentum <= 1:
            raise ValueError("lr and temperature must be positive and momentum in [0, 1].")

    @property
    def table_options(self) -> dict[str, Any]:
        """How to read a CSV/TSV file (`TABLE_OPTIONS`), as given."""
        return {name: getattr(self, name) for name in TABLE_OPTIONS}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PretrainRecipe:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"Unknown recipe field(s) {unknown}; valid fields: {', '.join(sorted(known))}."
            )
        return cls(**values)

    @classmethod
    def resolve(
        cls, recipe: str | Path | PretrainRecipe | Mapping[str, Any], **overrides: Any
    ) -> PretrainRecipe:
        """A recipe given by shipped name, JSON path, object or dict, with `overrides` applied
        (and validated again): `PretrainRecipe.resolve("demo", epochs=2, lr=0.03)`."""
        if isinstance(recipe, PretrainRecipe):
            base = recipe.to_dict()
        elif isinstance(recipe, Mapping):
            base = cls.from_dict(dict(recipe)).to_dict()
        else:
            base = cls.load(recipe).to_dict()
        values = {**base, **overrides}
        if overrides.get("data_path") is not None and "dataset" not in overrides:
            values["dataset"] = kind_for(base["dataset"], overrides["data_path"])
        return cls.from_dict(values)

    @classmethod
    def load(cls, name_or_path: str | Path, _extended: tuple[Path, ...] = ()) -> PretrainRecipe:
        """A recipe by name (one shipped in `RECIPE_DIR`) or by path to a JSON file. A file with
        `"extends": "demo"` holds only the fields it changes in that recipe."""
        path = recipe_path(name_or_path)
        if path in _extended:
            chain = " -> ".join(str(p) for p in (*_extended, path))
            raise ValueError(f"Recipe {path} extends itself: {chain}.")
        values = json.loads(path.read_text())
        if "extends" in values:
            base = cls.load(values.pop("extends"), (*_extended, path))
            values = {**base.to_dict(), "name": path.stem, **values}
        return cls.from_dict({"name": path.stem, **values})


def recipe_path(name_or_path: str | Path) -> Path:
    """The JSON file of a shipped recipe's name, or the file given."""
    path = Path(name_or_path)
    if not path.is_file():
        path = RECIPE_DIR / f"{name_or_path}.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"No recipe {name_or_path!r}; available: {', '.join(shipped_recipes())}."
        )
    return path.resolve()


def shipped_recipes() -> list[str]:
    """Names of the recipes that ship with the package."""
    return sorted(path.stem for path in RECIPE_DIR.glob("*.json"))
