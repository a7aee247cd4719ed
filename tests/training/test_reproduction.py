"""The reproduction study's bookkeeping: summaries over pretraining seeds, gains with intervals,
the choice of the demo model, and the committed results re-derived from their JSON."""

import json
from pathlib import Path

import numpy as np
import pytest

from mocoim_hub.finetune import Run, SweepResults, markdown_table
from mocoim_hub.pretraining.recipe import PretrainRecipe

from studies.runs import METHODS, StaleRunError, check_not_stale, method_of, parse_overrides
from studies.summaries import best_encoder, differences, over_seeds, seed_interval

RESULTS = Path(__file__).parents[2] / "results" / "reproduction"


def run(model, fraction, seed, accuracy, validation=0.5, mode="linear"):
    return Run(model, mode, fraction, seed, 10, {"accuracy": accuracy, "macro_f1": accuracy},
               {"validation_accuracy": validation})  # fmt: skip


def sweep(runs) -> SweepResults:
    return SweepResults("multi-class", "toy", runs, [])


def test_seed_interval_is_the_mean_with_bounds_inside_the_seed_range():
    mean, low, high = seed_interval([0.6, 0.7, 0.8])
    assert mean == pytest.approx(0.7)
    assert 0.6 <= low < mean < high <= 0.8 + 1e-12
    assert seed_interval([0.5]) == (0.5, 0.5, 0.5)


def test_over_seeds_averages_subset_seeds_first_then_pretraining_seeds():
    runs = [run("moco-s0", 0.01, 0, 0.5), run("moco-s0", 0.01, 1, 0.7),  # encoder mean 0.6
            run("moco-s1", 0.01, 0, 0.8)]  # fmt: skip
    study = over_seeds(sweep(runs))
    row = study.value("moco", "linear", 0.01, "accuracy")
    assert row.value == pytest.approx(0.7) and row.seeds == 2
    assert study.interval == "pretraining seeds"


def test_differences_against_a_baseline():
    runs = [run(f"{m}-s{s}", 0.01, 0, base + 0.01 * s)
            for m, base in (("moco", 0.5), ("moco-bt", 0.6)) for s in range(3)]  # fmt: skip
    (gain,) = differences(sweep(runs), "moco", "accuracy")
    assert (gain.model, gain.baseline) == ("moco-bt", "moco")
    assert gain.value == pytest.approx(0.1) and gain.ci_low > 0


def test_best_encoder_is_chosen_on_validation_not_test():
    runs = [run("moco-s0", 0.01, 0, accuracy=0.9, validation=0.4),
            run("moco-bt-s1", 0.01, 0, accuracy=0.1, validation=0.6),
            run("random-s0", 0.01, 0, accuracy=0.9, validation=0.9)]  # fmt: skip
    assert best_encoder(sweep(runs), "accuracy", METHODS) == "moco-bt-s1"
    assert method_of("moco-mse-s12") == "moco-mse"


def test_smoke_settings_are_parsed_as_mocoim_pretrain_takes_them():
    overrides = parse_overrides(["--max-steps", "2", "--intermediate-layers", "1", "2", "--no-mlp"])
    assert overrides == {"max_steps": 2, "intermediate_layers": [1, 2], "mlp": False}
    with pytest.raises(SystemExit):
        parse_overrides(["--no-such-field", "1"])


@pytest.mark.parametrize("method", METHODS)
def test_a_run_of_another_recipe_is_never_reused(method, tmp_path):
    """A folder holding a run of the method is reused; one whose recipe differs in a field that
    changes what it learns is refused, naming the field; bookkeeping and smoke fields may differ."""
    recipe = PretrainRecipe.resolve("demo", **METHODS[method], seed=1)
    (tmp_path / "recipe.json").write_text(json.dumps(recipe.to_dict()))
    check_not_stale(tmp_path, "demo", {**METHODS[method], "seed": 1, "log_every": 1})
    check_not_stale(tmp_path, "demo", {**METHODS[method], "seed": 1, "max_steps": 2}, {"max_steps"})
    with pytest.raises(StaleRunError, match=r"seed=1 \(now 2\)"):
        check_not_stale(tmp_path, "demo", {**METHODS[method], "seed": 2})


def test_committed_table_is_re_derived_from_the_committed_runs():
    committed = SweepResults.from_dict(json.loads((RESULTS / "results.json").read_text()))
    again = over_seeds(SweepResults(committed.task, committed.dataset, committed.runs, []))
    assert markdown_table(again) == markdown_table(committed)
    assert markdown_table(committed) in (RESULTS / "results.md").read_text()
    assert np.isfinite([row.value for row in committed.summary]).all()
