"""Linear probes: the regularisation is chosen on validation, every task has the right outputs."""

import numpy as np
import pytest

from mocoim_hub.finetune import evaluate, linear_probe

rng = np.random.default_rng(0)


def blobs(n: int, classes: int, dim: int = 20, spread: float = 1.5):
    centres = np.random.default_rng(42).normal(size=(classes, dim)) * 3
    labels = rng.integers(0, classes, n)
    return centres[labels] + rng.normal(size=(n, dim)) * spread, labels


def test_probe_separates_classes_and_keeps_the_best_validation_strength():
    (x, y), (xv, yv), (xt, yt) = blobs(300, 4), blobs(200, 4), blobs(200, 4)
    strengths = (10.0, 1e-2, 1e-4)
    probe = linear_probe(x, y, xv, yv, "multi-class", l2=strengths)
    assert evaluate("multi-class", yt, probe.scores(xt))["accuracy"] > 0.9
    single = {
        s: linear_probe(x, y, xv, yv, "multi-class", l2=[s]).validation["accuracy"]
        for s in strengths
    }
    assert probe.validation["accuracy"] == pytest.approx(max(single.values()), abs=0.011)
    assert probe.scores(xt).sum(1) == pytest.approx(np.ones(200), abs=1e-5)


def test_binary_and_multi_label_outputs():
    x, y = blobs(200, 2)
    binary = linear_probe(x, y, x, y, "binary")
    assert (
        binary.scores(x).shape == (200,) and evaluate("binary", y, binary.scores(x))["auroc"] > 0.95
    )

    multi_hot = np.stack([y, 1 - y, (x[:, 0] > 0).astype(int)], axis=1)
    probe = linear_probe(x, multi_hot, x, multi_hot, "multi-label")
    scores = probe.scores(x)
    assert scores.shape == (200, 3) and ((0 <= scores) & (scores <= 1)).all()
    assert evaluate("multi-label", multi_hot, scores)["mean_auroc"] > 0.9


def test_standardisation_makes_the_probe_scale_invariant():
    (x, y), (xv, yv) = blobs(200, 3), blobs(100, 3)
    a = linear_probe(x, y, xv, yv, "multi-class", l2=[1e-2])
    b = linear_probe(x * 1000 + 5, y, xv * 1000 + 5, yv, "multi-class", l2=[1e-2])
    np.testing.assert_allclose(a.scores(xv), b.scores(xv * 1000 + 5), atol=1e-3)


def test_nan_rows_are_ignored_in_training():
    (x, y), (xv, yv) = blobs(100, 2), blobs(50, 2)
    x[3] = np.nan
    assert not np.isnan(linear_probe(x, y, xv, yv, "binary").scores(xv)).any()
