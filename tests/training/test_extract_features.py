import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mocoim_hub.archive import Embeddings

SCRIPT = Path(__file__).parents[2] / "training" / "extract_features.py"


@pytest.mark.slow
def test_script_embeds_examples_and_saves_a_reloadable_model(tmp_path):
    output, model_dir = tmp_path / "embeddings", tmp_path / "model"
    command = [
        sys.executable, str(SCRIPT), "--init", "resnet18", "--image-size", "64",
        "--save-model", str(model_dir), "--output", str(output), "--layers", "layer1", "layer4",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "embedded 3 of 3 images into" in result.stdout
    saved = Embeddings(output)
    assert saved.paths == ["retina", "immunohistochemistry", "ct"]
    assert saved.layer("layer1").shape == (3, 64) and saved.layer("layer4").shape == (3, 512)

    reloaded = subprocess.run(
        [sys.executable, str(SCRIPT), "--model", str(model_dir), "--output", str(tmp_path / "again")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert reloaded.returncode == 0, reloaded.stderr[-2000:]
    assert np.allclose(Embeddings(tmp_path / "again").layer(), saved.layer("layer4"), atol=1e-5)


@pytest.mark.slow
def test_a_bad_file_names_the_flag_that_skips_it(tmp_path, saved_model_dir):
    bad, good = tmp_path / "bad.png", tmp_path / "good.png"
    bad.write_text("not an image")
    Image.new("L", (40, 40), 128).save(good)
    base = [sys.executable, str(SCRIPT), "--model", saved_model_dir, str(bad), str(good),
            "--output", str(tmp_path / "out")]  # fmt: skip
    stopped = subprocess.run(base, capture_output=True, text=True, timeout=300)
    assert stopped.returncode == 1 and not (tmp_path / "out" / "index.csv").exists()
    assert stopped.stderr.strip().splitlines()[-1].startswith(f"Bad image {bad} (")
    assert stopped.stderr.strip().endswith(
        "Fix or remove it, or pass --skip-bad-images (finished shards are kept: add --resume to go on)."
    )

    skipped = subprocess.run(
        base + ["--skip-bad-images", "--resume"], capture_output=True, text=True, timeout=300
    )
    assert skipped.returncode == 0, skipped.stderr[-2000:]
    assert (
        f"skipped 1 unreadable file(s), rows of NaN (reasons in index.csv): {bad}" in skipped.stdout
    )
    features = Embeddings(tmp_path / "out").layer()
    assert np.isnan(features[0]).all() and np.isfinite(features[1]).all()
