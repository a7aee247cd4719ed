"""Losses of MoCo-IM pretraining, one per module."""

from .barlow import BarlowTwinsLoss, barlow_projector
from .infonce import InfoNCELoss
from .mse import IntermediateMSELoss

__all__ = ["BarlowTwinsLoss", "InfoNCELoss", "IntermediateMSELoss", "barlow_projector"]
