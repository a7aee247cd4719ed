"""`training/analyze.py` end to end on a small folder of real images."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mocoim_hub import MocoImImageProcessor, MocoImModel
from mocoim_hub.configuration_mocoim import STAGE_NAMES

SCRIPT = Path(__file__).parents[2] / "training" / "analyze.py"


@pytest.mark.slow
def test_analyze_writes_figures_and_numbers(tmp_path, tiny_config, image_folder):
    tiny_config.zero_init_residual = False
    MocoImModel(tiny_config).save_pretrained(tmp_path / "model")
    MocoImImageProcessor.from_model_config(tiny_config).save_pretrained(tmp_path / "model")
    out = tmp_path / "analysis"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--models", f"tiny={tmp_path / 'model'}", "random",
         "--output-dir", str(out), "--dataset", "image_folder", "--data-path", str(image_folder),
         "--fractions", "0.1", "--seeds", "0", "--cka-examples", "300",
         "--ks-fractions", "0.01", "0.1", "--bootstrap", "50"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("cka_linear.png", "cka_rbf.png", "probing.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG", name
    report = json.loads((out / "analysis.json").read_text())
    linear = report["cka"]["linear"]
    assert len(linear) == len(STAGE_NAMES) and all(
        0 <= v <= 1 + 1e-6 for row in linear for v in row
    )
    assert {(r["model"], r["layer"]) for r in report["probing"]} == {
        (m, layer) for m in ("tiny", "random") for layer in STAGE_NAMES}  # fmt: skip
    assert 0 <= report["ks"]["tiny"]["mean"] <= 1 and len(report["ks"]["random"]["per_class"]) == 3
    assert "## Layer-wise probing" in result.stdout and "| tiny | 10 % |" in result.stdout


def test_analyze_needs_two_models(tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), "--models", "x", "--output-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2 and "at least two --models" in result.stderr
