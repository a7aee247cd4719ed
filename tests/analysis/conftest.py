"""Small real-image splits for the few-label tests: slices of the embedded default dataset."""

import numpy as np
import pytest

from mocoim_hub import MocoImConfig, MocoImModel
from mocoim_hub.data.adapters import default_dataset
from mocoim_hub.finetune import Encoder


@pytest.fixture(scope="session")
def small_splits():
    """300 train / 100 validation / 100 test images (Fashion-MNIST, 10 classes)."""
    splits = default_dataset()
    sizes = {"train": 300, "validation": 100, "test": 100}
    return {name: splits[name].subset(np.arange(size)) for name, size in sizes.items()}


@pytest.fixture
def encoder() -> Encoder:
    """A random-init resnet18 at 32 px."""
    return Encoder.random_init(MocoImModel(MocoImConfig(backbone="resnet18", image_size=32)))
