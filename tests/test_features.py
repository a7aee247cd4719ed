import numpy as np
import pytest
import torch

from mocoim_hub import MocoImImageProcessor, MocoImModel
from mocoim_hub.examples import EXAMPLE_NAMES, example_images
from mocoim_hub.features import embed_images


def test_batched_features_equal_one_forward(saved_model_dir):
    model = MocoImModel.from_pretrained(saved_model_dir).eval()
    processor = MocoImImageProcessor.from_pretrained(saved_model_dir)
    images = list(np.random.default_rng(0).integers(0, 256, (5, 40, 48), dtype=np.uint8))
    features = embed_images(model, processor, images, layers=["layer2", "layer4"], batch_size=2)
    with torch.no_grad():
        direct = model(**processor(images)).pooler_output.numpy()
    assert list(features) == ["layer2", "layer4"]
    assert features["layer2"].shape == (5, 128)
    assert np.allclose(features["layer4"], direct, atol=1e-5)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        embed_images(model, processor, images, batch_size=0)


def test_example_images_are_real_and_varied():
    images = example_images()
    assert tuple(images) == EXAMPLE_NAMES
    assert images["retina"].shape == (1411, 1411, 3)
    assert images["ct"].dtype == np.float32 and 0 <= images["ct"].min() < images["ct"].max() <= 1
