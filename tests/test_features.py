"""Embeddings of image lists, and cached feature extraction of datasets: aligned with the
dataset, extracted once, invalidated on change."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from mocoim_hub import MocoImImageProcessor, MocoImModel
from mocoim_hub.data.adapters import ImageDataset
from mocoim_hub.examples import EXAMPLE_NAMES, example_images
from mocoim_hub.features import dataset_fingerprint, embed_images, extract_features


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


@pytest.mark.compile
def test_compiled_extraction_equals_eager(saved_model_dir):
    model = MocoImModel.from_pretrained(saved_model_dir).eval()
    processor = MocoImImageProcessor.from_pretrained(saved_model_dir)
    images = list(np.random.default_rng(0).integers(0, 256, (5, 40, 48), dtype=np.uint8))
    eager, compiled = (
        embed_images(
            model,
            processor,
            images,
            layers=["layer2", "layer4"],
            batch_size=5,
            compile=compile,
            progress=False,
        )  # fmt: skip
        for compile in (False, True)
    )
    for layer in eager:
        np.testing.assert_allclose(compiled[layer], eager[layer], atol=1e-4)


def test_example_images_are_real_and_varied():
    images = example_images()
    assert tuple(images) == EXAMPLE_NAMES
    assert images["retina"].shape == (1411, 1411, 3)
    assert images["ct"].dtype == np.float32 and 0 <= images["ct"].min() < images["ct"].max() <= 1


def test_features_match_a_direct_forward_pass(encoder, small_splits):
    data = small_splits["test"].subset(np.arange(10))
    features = extract_features(encoder.model, data, processor=encoder.processor, layers=["layer2", "layer4"],
                                batch_size=4, num_workers=0, progress=False)  # fmt: skip
    assert features["layer2"].shape == (10, 128) and features["layer4"].shape == (10, 512)
    pixels = encoder.processor([data[i]["image"] for i in range(10)])["pixel_values"]
    with torch.inference_mode():
        direct = encoder.model.eval()(pixels).pooler_output.numpy()
    np.testing.assert_allclose(features["layer4"], direct, atol=1e-4)


def test_cache_hit_skips_extraction_and_changes_invalidate_it(
    encoder, small_splits, tmp_path, monkeypatch
):
    data = small_splits["validation"]
    first = extract_features(
        encoder.model, data, processor=encoder.processor, cache_dir=tmp_path, progress=False
    )
    assert len(list(tmp_path.glob("*.npz"))) == 1

    calls = []
    original = type(encoder.model).layer_features
    monkeypatch.setattr(type(encoder.model), "layer_features",
                        lambda self, *a, **k: calls.append(1) or original(self, *a, **k))  # fmt: skip
    again = extract_features(
        encoder.model, data, processor=encoder.processor, cache_dir=tmp_path, progress=False
    )
    assert calls == [] and np.array_equal(first["layer4"], again["layer4"])

    with torch.no_grad():
        encoder.model.encoder.conv1.weight.mul_(1.01)  # other weights: extracted anew
    extract_features(
        encoder.model, data, processor=encoder.processor, cache_dir=tmp_path, progress=False
    )
    assert calls and len(list(tmp_path.glob("*.npz"))) == 2
    assert dataset_fingerprint(data) != dataset_fingerprint(data.subset(np.arange(99)))


def test_undecodable_image_gets_a_nan_row_and_the_rest_stay_aligned(encoder):
    good = io.BytesIO()
    Image.fromarray(np.full((28, 28), 200, np.uint8)).save(good, format="PNG")
    images = [good.getvalue(), b"not an image", good.getvalue()]
    data = ImageDataset(images, np.array([0, 1, 0]), ["a", "b"], on_bad_image="skip")
    features = extract_features(encoder.model, data, processor=encoder.processor, num_workers=0,
                                progress=False)["layer4"]  # fmt: skip
    assert np.isnan(features[1]).all() and not np.isnan(features[[0, 2]]).any()
    np.testing.assert_allclose(features[0], features[2])
