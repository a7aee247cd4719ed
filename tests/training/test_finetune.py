"""`training/finetune.py` end to end on the embedded dataset: results, cards, a saved classifier
served and pushed."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from mocoim_hub import MocoImImageProcessor, MocoImModel
from mocoim_hub.hub import save_for_hub

SCRIPT = Path(__file__).parents[2] / "training" / "finetune.py"
DEMO_LONG = Path(__file__).parents[2] / "results" / "demo-long" / "results.json"


@pytest.mark.slow
def test_sweep_writes_results_updates_the_card_and_pushes(tmp_path, tiny_config, hub):
    model_dir = save_for_hub(MocoImModel(tiny_config), MocoImImageProcessor.from_model_config(tiny_config),
                             tmp_path / "demo" / "model", "org/demo")  # fmt: skip
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--models", str(model_dir), "random", "--output-dir",
         str(tmp_path / "out"), "--fractions", "0.01", "--seeds", "0", "1", "--modes", "linear",
         "--bootstrap", "50", "--push-to-hub", "--hub-model-id", "org/demo",
         "--compare", str(DEMO_LONG)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        "| demo | linear | 1 % | 2 |" in result.stdout
        and "| random | linear | 1 % | 2 |" in result.stdout
    )
    comparison = result.stdout.split("Beside the results in")[1]  # the committed long run's rows
    assert "| demo | linear | 1 % | 2 |" in comparison
    assert "| demo-long (reference) | linear | 1 % | 3 |" in comparison

    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert {r["model"] for r in results["runs"]} == {"demo", "random"}
    assert len(results["runs"]) == 2 * 2  # models x seeds (full fine-tuning: the test below)
    assert (tmp_path / "out" / "results.png").exists()

    card = ModelCard.load(model_dir / "README.md")
    table_values = {(r.metric_type, r.metric_name) for r in card.data.eval_results}
    assert ("accuracy", "accuracy, linear, 1 % labels") in table_values

    def summary(model: str) -> dict:
        return next(s for s in results["summary"] if (s["model"], s["mode"], s["label_fraction"],
                    s["metric"]) == (model, "linear", 0.01, "accuracy"))  # fmt: skip

    mine, random_init = summary("demo"), summary("random")
    for encoder, row in (("this model", mine), ("random init, same architecture", random_init)):
        cell = f"{row['value']:.3f} ({row['ci_low']:.3f}–{row['ci_high']:.3f})"
        assert f"| 1 % | {encoder} | 2 | {cell}" in card.text  # the baseline beside the model
    assert f"against {random_init['value']:.3f} for a random-init encoder" in card.text
    assert len(card.data.eval_results) == len(table_values)  # the model-index: own rows only
    assert hub.file("org/demo", "README.md") == (model_dir / "README.md").read_bytes()


@pytest.mark.slow
def test_fine_tune_save_serve_and_push_a_classifier(tmp_path, tiny_config, hub):
    """The round trip of a user with few labels: fine-tune -> saved folder -> pipeline -> the
    demo's Classify tab -> pushed -> pipeline from the Hub id."""
    from gradio_client import Client, handle_file
    from transformers import pipeline

    from mocoim_hub.app import build_demo
    from mocoim_hub.examples import example_files

    encoder_dir = save_for_hub(MocoImModel(tiny_config), MocoImImageProcessor.from_model_config(tiny_config),
                               tmp_path / "demo" / "model", "org/demo")  # fmt: skip
    classifier_dir = tmp_path / "demo" / "classifier"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--models", str(encoder_dir), "--output-dir", str(tmp_path / "out"),
         "--modes", "full", "--fractions", "0.01", "--seeds", "0", "--epochs", "1", "--bootstrap", "50",
         "--save-model", str(classifier_dir), "--push-to-hub", "--hub-model-id", "org/demo-classifier"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"with its test metrics and card to {classifier_dir}" in result.stdout
    assert "Next:" in result.stdout and f"app.py --model {classifier_dir}" in result.stdout

    card = ModelCard.load(classifier_dir / "README.md")
    assert card.data.pipeline_tag == "image-classification"
    assert 'pipeline("image-classification", model="org/demo-classifier")' in card.text
    ct = str(example_files(tmp_path / "examples")["ct"])
    local = pipeline("image-classification", model=str(classifier_dir))(ct, top_k=3)
    assert len(local) == 3 and sum(r["score"] for r in local) <= 1 + 1e-6

    assert (
        hub.file("org/demo-classifier", "README.md") == (classifier_dir / "README.md").read_bytes()
    )
    from_hub = pipeline("image-classification", model="org/demo-classifier")(ct, top_k=3)
    assert from_hub == local

    demo = build_demo([f"local={classifier_dir}", "org/demo-classifier"])  # a folder, a Hub id
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        shown = [client.predict(name, handle_file(ct), api_name="/classify")
                 for name in ("local", "org/demo-classifier")]  # fmt: skip
    finally:
        demo.close()
    for labels in shown:
        assert labels["label"] == local[0]["label"]
        confidences = {c["label"]: c["confidence"] for c in labels["confidences"]}
        assert confidences[local[0]["label"]] == pytest.approx(local[0]["score"], abs=1e-5)
