"""The reproduction study end to end (`--quick`), in this process: every method pretrained on the
recipe's own data and scored on that data, never on the embedded default dataset."""

import json

import pytest
from reproduce import main

from studies.runs import METHODS

pytestmark = pytest.mark.studies


def test_quick_study_trains_and_scores_on_the_recipe_data(tmp_path, recipe, capsys):
    out, work = tmp_path / "results", tmp_path / "runs"
    main(["--quick", "--recipe", str(recipe), "--output-dir", str(out), "--work-dir", str(work),
          "--fractions", "0.1", "1.0", "--cka-examples", "30"])  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    assert results["dataset"] == "images"  # the recipe's folder (its name), not Fashion-MNIST
    assert {run["model"] for run in results["runs"]} == {
        f"{method}-s{seed}" for method in [*METHODS, "random"] for seed in (0, 1)
    }
    assert {run["train_images"] for run in results["runs"] if run["label_fraction"] == 1.0} == {120}
    for method in METHODS:
        saved = json.loads((work / f"{method}-s1" / "recipe.json").read_text())
        assert saved["data_path"] == json.loads(recipe.read_text())["data_path"]
        assert saved["seed"] == 1 and saved["max_steps"] == 2
    study = json.loads((out / "study.json").read_text())
    assert set(study["pretraining_training_s"]) == {f"{m}-s{s}" for m in METHODS for s in (0, 1)}
    for name in ("results.md", "gains.md", "probing.png", "summary.md"):
        assert (out / name).stat().st_size > 0
    assert "Best encoder by validation accuracy" in capsys.readouterr().out
