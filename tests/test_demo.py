"""The demo's computations without Gradio."""

import numpy as np
import pytest
import torch

from mocoim_hub import demo


def test_read_upload_explains_every_failure(tmp_path):
    with pytest.raises(ValueError, match="Upload an image first"):
        demo.read_upload(None)
    big = tmp_path / "big.png"
    big.write_bytes(b"\x00" * 2048)
    for upload in (big, big.read_bytes()):
        with pytest.raises(ValueError, match="takes up to"):
            demo.read_upload(upload, max_bytes=1024)


def test_model_view_maps_and_similarities(saved_model_dir, retina):
    loaded = demo.load_model(saved_model_dir)
    assert demo.load_model(saved_model_dir) is loaded  # loaded once
    pixels = demo.pixels_of(loaded, retina)
    seen = demo.as_seen_by_model(loaded, pixels)
    assert seen.shape == (32, 32, 3) and seen.dtype == np.uint8
    overlays = demo.activation_overlays(loaded, pixels)
    assert [caption.split(":")[0] for _, caption in overlays] == [
        "layer1",
        "layer2",
        "layer3",
        "layer4",
    ]
    assert all(image.shape == (32, 32, 3) for image, _ in overlays)
    flipped = demo.pixels_of(loaded, retina[:, ::-1].copy())
    forward, backward = (
        demo.layer_similarities(loaded, pixels, flipped),
        demo.layer_similarities(loaded, flipped, pixels),
    )
    assert forward == pytest.approx(backward) and all(-1 <= v <= 1 for v in forward.values())


def test_missing_default_model_is_explained():
    with pytest.raises(ValueError, match="mocoim-pretrain --recipe demo"):
        demo.load_model("runs/nothing-here")


def test_maps_too_small_to_show_are_shown_as_what_they_are(saved_model_dir, retina, monkeypatch):
    """At 32 px, layer4 is 1×1 and layer3 2×2: the 1×1 map is one value (the input is shown
    untinted, the caption says so); a 2×2 map keeps its four cells; rounding noise on a flat map is
    never stretched to the full colour range."""
    loaded = demo.load_model(saved_model_dir)
    pixels = demo.pixels_of(loaded, retina)
    base = demo.as_seen_by_model(loaded, pixels)
    overlays = dict((caption.split(":")[0], (image, caption)) for image, caption in demo.activation_overlays(loaded, pixels))  # fmt: skip
    image, caption = overlays["layer4"]
    assert "1×1, uniform" in caption and "nothing to localise" in caption
    assert np.array_equal(image, base)
    image, caption = overlays["layer3"]
    assert "2×2" in caption and "uniform" not in caption and not np.array_equal(image, base)

    real = loaded.encoder.layer_features

    def nearly_flat(pixels, layers, pooled):
        maps = real(pixels, layers=layers, pooled=pooled)
        noise = 6e-8 * torch.rand_like(maps["layer2"])
        return {**maps, "layer2": torch.ones_like(maps["layer2"]) + noise}

    monkeypatch.setattr(loaded.encoder, "layer_features", nearly_flat)
    image, caption = demo.activation_overlays(loaded, pixels)[1]
    assert "uniform" in caption and np.array_equal(image, base)


def test_a_gallery_of_your_own_images_skips_unreadable_files(
    saved_model_dir, example_archive, monkeypatch, tmp_path, capsys
):
    monkeypatch.setattr(demo, "CACHE_DIR", tmp_path)
    loaded = demo.load_model(saved_model_dir)
    gallery = demo.gallery(saved_model_dir, str(example_archive / "flat"))
    assert "read 61 images" in capsys.readouterr().out  # 60 JPEGs and the truncated PNG
    assert len(gallery.embeddings) == 60  # the truncated file left out of the search
    query = demo.pixels_of(loaded, demo.load_image(example_archive / "flat" / "fundus_003.jpg"))
    (image, caption), *others = gallery.nearest(demo.embed(loaded, query))
    assert caption == "fundus_003.jpg · cosine distance 0.000" and len(others) == 7
    assert image.dtype == np.uint8 and image.shape == (96, 96)
    labelled = demo.gallery(saved_model_dir, str(example_archive / "photos"))
    captions = [c for _, c in labelled.nearest(demo.embed(loaded, query))]
    assert all(c.split(" · ")[0] in ("fundus", "histology") for c in captions)  # class names
    with pytest.raises(FileNotFoundError, match="No folder or file at"):
        demo.gallery_images(str(tmp_path / "typo"))
