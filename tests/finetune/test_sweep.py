"""Sweeps: identical labelled subsets for every encoder, one summary row per cell, readable output."""

import json

import numpy as np
import pytest

from mocoim_hub.finetune import (
    Encoder,
    card_evaluations,
    labelled_subsets,
    run_sweep,
    write_results,
)


def test_subsets_are_seeded_and_nested_in_the_training_set(small_splits):
    train = small_splits["train"]
    first, second = (
        labelled_subsets(train, [0.1, 1.0], [0, 1]),
        labelled_subsets(train, [0.1, 1.0], [0, 1]),
    )
    assert all(np.array_equal(first[k], second[k]) for k in first)
    assert not np.array_equal(first[0.1, 0], first[0.1, 1])
    assert len(first[0.1, 0]) == 30 and len(first[1.0, 0]) == 300
    assert set(train.labels[first[0.1, 0]]) == set(range(10))  # stratified: every class


@pytest.mark.slow
def test_sweep_over_two_encoders(encoder, small_splits, tmp_path):
    other = Encoder.random_init(encoder.model, seed=1, name="random-1")
    results = run_sweep([encoder, other], small_splits, "tiny", fractions=[0.1, 1.0], seeds=[0, 1],
                        cache_dir=tmp_path / "cache", n_resamples=50, progress=False)  # fmt: skip
    by_model = {name: [(r.label_fraction, r.seed, r.train_images) for r in results.runs if r.model == name]
                for name in ("random", "random-1")}  # fmt: skip
    assert by_model["random"] == by_model["random-1"] == [(0.1, 0, 30), (0.1, 1, 30), (1.0, 0, 300)]
    cell = results.value("random", "linear", 0.1, "accuracy")
    seed_values = [
        r.metrics["accuracy"]
        for r in results.runs
        if (r.model, r.label_fraction) == ("random", 0.1)
    ]
    assert cell.seeds == 2 and cell.value == pytest.approx(np.mean(seed_values))
    assert cell.ci_low <= cell.value <= cell.ci_high

    paths = write_results(results, tmp_path / "out")
    table = paths["markdown"].read_text()
    assert (
        "| random-1 | linear | 10 % | 2 |" in table and "| random | linear | 100 % | 1 |" in table
    )
    assert json.loads(paths["json"].read_text())["summary"][0]["metric"] == "accuracy"
    assert paths["plot"].read_bytes()[:4] == b"\x89PNG"

    rows = card_evaluations(results, "random")
    assert {(e.metric, e.label_fraction) for e in rows} == {
        (m, f) for m in ("accuracy", "macro_f1") for f in (0.1, 1.0)}  # fmt: skip


def test_sweep_rejects_bad_arguments(encoder, small_splits):
    with pytest.raises(ValueError, match="Unknown mode"):
        run_sweep([encoder], small_splits, "x", modes=["knn"])
    with pytest.raises(ValueError, match="missing \\['test'\\]"):
        run_sweep([encoder], {k: small_splits[k] for k in ("train", "validation")}, "x")
