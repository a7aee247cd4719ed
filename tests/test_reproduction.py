"""The reproduction study's bookkeeping: summaries over pretraining seeds, gains with intervals,
the choice of the demo model, and the committed results re-derived from their JSON."""

import json
from pathlib import Path

import numpy as np
import pytest

from mocoim_hub.finetune import Run, SweepResults, markdown_table
from mocoim_hub.pretraining.recipe import (
    PretrainRecipe,
    add_recipe_arguments,
    recipe_from_arguments,
)
from mocoim_hub.reproduction import (
    METHODS,
    best_encoder,
    differences,
    method_of,
    over_seeds,
    pretrain_command,
    seed_interval,
)

RESULTS = Path(__file__).parents[1] / "results" / "reproduction"


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


@pytest.mark.parametrize("method", METHODS)
def test_pretrain_command_gives_the_method_its_recipe(method, tmp_path):
    import argparse

    command = pretrain_command(method, 2, tmp_path, extra=["--max-steps", "3"])
    parser = argparse.ArgumentParser()
    for option in ("--recipe", "--output-dir"):
        parser.add_argument(option)
    add_recipe_arguments(parser)
    recipe = recipe_from_arguments(PretrainRecipe.load("demo"), parser.parse_args(command[3:]))
    assert recipe.seed == 2 and recipe.max_steps == 3
    for field, value in METHODS[method].items():
        assert getattr(recipe, field) == value
    shared = {"epochs", "batch_size", "lr", "image_size", "backbone", "queue_size"}
    assert {f: getattr(recipe, f) for f in shared} == {
        f: getattr(PretrainRecipe.load("demo"), f) for f in shared
    }


def test_committed_table_is_re_derived_from_the_committed_runs():
    committed = SweepResults.from_dict(json.loads((RESULTS / "results.json").read_text()))
    again = over_seeds(SweepResults(committed.task, committed.dataset, committed.runs, []))
    assert markdown_table(again) == markdown_table(committed)
    assert markdown_table(committed) in (RESULTS / "results.md").read_text()
    assert np.isfinite([row.value for row in committed.summary]).all()
