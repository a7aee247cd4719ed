"""Training-only parts of MoCo-IM: the MoCo wrapper, losses, heads, schedules, recipes."""

from ..extras import require

require("Pretraining (mocoim_hub.pretraining)", "datasets", "matplotlib")

from .moco import IntermediateLoss, MocoIm, MocoImOutput, projection_head

__all__ = ["IntermediateLoss", "MocoIm", "MocoImOutput", "projection_head"]
