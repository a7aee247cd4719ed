import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).parents[2] / "training" / "extract_features.py"


@pytest.mark.slow
def test_script_embeds_examples_and_saves_a_reloadable_model(tmp_path):
    output, model_dir = tmp_path / "features.npz", tmp_path / "model"
    command = [
        sys.executable, str(SCRIPT), "--init", "resnet18", "--image-size", "64",
        "--save-model", str(model_dir), "--output", str(output), "--layers", "layer1", "layer4",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "cosine similarity of layer4" in result.stdout
    saved = np.load(output)
    assert list(saved["names"]) == ["retina", "immunohistochemistry", "ct"]
    assert saved["layer1"].shape == (3, 64) and saved["layer4"].shape == (3, 512)

    reloaded = subprocess.run(
        [sys.executable, str(SCRIPT), "--model", str(model_dir), "--output", str(tmp_path / "again.npz"),
         "--layers", "layer4"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert reloaded.returncode == 0, reloaded.stderr[-2000:]
    assert np.allclose(np.load(tmp_path / "again.npz")["layer4"], saved["layer4"], atol=1e-5)
