"""Metrics against scikit-learn, and the bootstrap's intervals."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score, roc_auc_score

from mocoim_hub.finetune.metrics import (
    auroc,
    bootstrap,
    confusion,
    evaluate,
    macro_f1,
    quadratic_kappa,
    task_of,
)

rng = np.random.default_rng(0)


def test_auroc_matches_sklearn_with_ties():
    labels = rng.integers(0, 2, 300)
    scores = np.round(labels * 0.3 + rng.random(300), 1)  # many ties
    assert auroc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert np.isnan(auroc(np.ones(5), rng.random(5)))


def test_f1_and_kappa_match_sklearn_including_a_class_never_predicted():
    labels = rng.integers(0, 5, 400)
    predictions = np.where(
        rng.random(400) < 0.6, labels, rng.integers(0, 4, 400)
    )  # class 4 rarely right
    predictions[predictions == 4] = 3
    matrix = confusion(labels, predictions, 5)
    assert macro_f1(matrix) == pytest.approx(f1_score(labels, predictions, average="macro"))
    assert quadratic_kappa(matrix) == pytest.approx(
        cohen_kappa_score(labels, predictions, weights="quadratic")
    )


def test_evaluate_each_task():
    labels = rng.integers(0, 3, 200)
    scores = rng.dirichlet(np.ones(3), 200)
    metrics = evaluate("multi-class", labels, scores, ordinal=True)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(labels, scores.argmax(1)))
    assert set(metrics) == {"accuracy", "macro_f1", "quadratic_kappa"}

    binary = rng.integers(0, 2, 200)
    probability = np.clip(binary * 0.4 + rng.random(200) * 0.6, 0, 1)
    metrics = evaluate("binary", binary, probability)
    assert metrics["auroc"] == pytest.approx(roc_auc_score(binary, probability))
    assert metrics["macro_f1"] == pytest.approx(
        f1_score(binary, probability >= 0.5, average="macro")
    )

    multi_hot = rng.integers(0, 2, (200, 4))
    multi_scores = multi_hot * 0.3 + rng.random((200, 4))
    metrics = evaluate("multi-label", multi_hot, multi_scores)
    assert metrics["mean_auroc"] == pytest.approx(
        roc_auc_score(multi_hot, multi_scores, average="macro")
    )
    assert metrics["auroc_2"] == pytest.approx(roc_auc_score(multi_hot[:, 2], multi_scores[:, 2]))


def test_rows_with_nan_scores_are_left_out():
    labels = np.array([0, 1, 1, 0])
    scores = np.array([0.1, 0.9, np.nan, 0.2])
    assert evaluate("binary", labels, scores)["accuracy"] == 1.0


def test_task_of():
    assert task_of(np.zeros((3, 14)), 14) == "multi-label"
    assert (
        task_of(np.array([0, 1]), 2) == "binary" and task_of(np.array([0, 4]), 5) == "multi-class"
    )


def noisy_binary(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.default_rng(seed)
    labels = generator.integers(0, 2, n)
    return labels, 1 / (1 + np.exp(-(labels * 1.5 + generator.normal(size=n))))


def test_bootstrap_interval_contains_the_estimate_and_narrows_with_n():
    widths = []
    for n in (100, 2000):
        labels, scores = noisy_binary(n, seed=n)
        intervals = bootstrap("binary", labels, scores, n_resamples=300)
        for score in intervals.values():
            assert score.low <= score.value <= score.high
        assert intervals["auroc"].value == pytest.approx(auroc(labels, scores))
        widths.append(intervals["auroc"].high - intervals["auroc"].low)
    assert widths[1] < widths[0] / 2


def test_bootstrap_over_seeds_reports_their_mean():
    labels, first = noisy_binary(500, 1)
    second = np.clip(first + 0.1 * rng.normal(size=500), 0, 1)
    intervals = bootstrap("binary", labels, [first, second], n_resamples=100)
    expected = (auroc(labels, first) + auroc(labels, second)) / 2
    assert intervals["auroc"].value == pytest.approx(expected)
