"""`training/finetune.py` end to end on the embedded dataset, pushing the updated card."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from mocoim_hub import MocoImImageProcessor, MocoImModel
from mocoim_hub.hub import save_for_hub

SCRIPT = Path(__file__).parents[2] / "training" / "finetune.py"


@pytest.mark.slow
def test_sweep_writes_results_updates_the_card_and_pushes(tmp_path, tiny_config, hub):
    model_dir = save_for_hub(MocoImModel(tiny_config), MocoImImageProcessor.from_model_config(tiny_config),
                             tmp_path / "demo" / "model", "org/demo")  # fmt: skip
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--models", str(model_dir), "random", "--output-dir",
         str(tmp_path / "out"), "--fractions", "0.01", "--seeds", "0", "1", "--modes", "linear",
         "full", "--epochs", "1", "--bootstrap", "50", "--push-to-hub", "--hub-model-id", "org/demo"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        "| demo | linear | 1 % | 2 |" in result.stdout
        and "| random | full | 1 % | 2 |" in result.stdout
    )

    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert {r["model"] for r in results["runs"]} == {"demo", "random"}
    assert len(results["runs"]) == 2 * 2 * 2  # models x modes x seeds
    assert (tmp_path / "out" / "results.png").exists()

    card = ModelCard.load(model_dir / "README.md")
    table_values = {(r.metric_type, r.metric_name) for r in card.data.eval_results}
    assert ("accuracy", "accuracy, full, 1 % labels") in table_values
    accuracy = next(s for s in results["summary"] if (s["model"], s["mode"], s["label_fraction"], s["metric"])
                    == ("demo", "linear", 0.01, "accuracy"))  # fmt: skip
    assert (
        f"| 1 % | 2 | {accuracy['value']:.3f} ({accuracy['ci_low']:.3f}–{accuracy['ci_high']:.3f})"
        in card.text
    )
    assert hub.file("org/demo", "README.md") == (model_dir / "README.md").read_bytes()
