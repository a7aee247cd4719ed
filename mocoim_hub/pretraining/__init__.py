"""Pretraining MoCo-IM encoders: `pretrain(...)` and the `Pretrainer` behind it, the callbacks
that run between steps, recipes, and the parts they are built from (the MoCo wrapper, losses,
schedules, checkpoints).

    from mocoim_hub.pretraining import pretrain

    result = pretrain("demo", "runs/demo", epochs=2)
"""

from ..extras import require

require("Pretraining (mocoim_hub.pretraining)", "datasets", "matplotlib")

from .callbacks import (
    Callback,
    Checkpointer,
    KnnMonitoring,
    MetricsLogger,
    Snapshots,
    TimeLimit,
    default_callbacks,
)
from .moco import IntermediateLoss, MocoIm, MocoImOutput, projection_head
from .recipe import PretrainRecipe, shipped_recipes
from .trainer import (
    NonFiniteLossError,
    Pretrainer,
    PretrainingError,
    PretrainingInterrupted,
    PretrainResult,
    RunExistsError,
    pretrain,
)

__all__ = [
    "Callback", "Checkpointer", "IntermediateLoss", "KnnMonitoring", "MetricsLogger", "MocoIm",
    "MocoImOutput", "NonFiniteLossError", "PretrainRecipe", "PretrainResult", "Pretrainer",
    "PretrainingError", "PretrainingInterrupted", "RunExistsError", "Snapshots", "TimeLimit",
    "default_callbacks", "pretrain", "projection_head", "shipped_recipes",
]  # fmt: skip
