import numpy as np
import pytest

from mocoim_hub.data.splits import few_label_subset, patient_disjoint_split

PREVALENCE = np.array(
    [0.1, 0.02, 0.05, 0.003, 0.2, 0.01, 0.001, 0.04, 0.03, 0.02, 0.015, 0.008, 0.006, 0.002]
)


@pytest.fixture(scope="module")
def multi_label():
    """NIH-like: 14 findings of very different prevalence, ~3 images per patient."""
    rng = np.random.default_rng(1)
    labels = (rng.random((20000, 14)) < PREVALENCE).astype(int)
    return labels, rng.integers(0, 6000, len(labels))


def test_single_label_fraction_is_stratified_within_one_per_class():
    labels = np.random.default_rng(0).integers(0, 10, 5003)
    for fraction in (0.01, 0.1, 0.37):
        counts = np.bincount(
            labels[few_label_subset(labels, fraction=fraction, seed=3)], minlength=10
        )
        assert np.all(np.abs(counts - fraction * np.bincount(labels)) <= 1)


def test_per_class_counts_and_determinism():
    labels = np.repeat(np.arange(4), 50)
    subset = few_label_subset(labels, per_class=7, seed=5)
    assert np.bincount(labels[subset]).tolist() == [7, 7, 7, 7]
    assert np.array_equal(subset, few_label_subset(labels, per_class=7, seed=5))
    assert not np.array_equal(subset, few_label_subset(labels, per_class=7, seed=6))
    assert np.array_equal(few_label_subset(labels, fraction=1.0), np.arange(200))


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.5])
def test_multi_label_keeps_prevalence_and_patients_together(multi_label, fraction):
    labels, patients = multi_label
    subset = few_label_subset(labels, fraction=fraction, seed=0, groups=patients)
    assert len(subset) == round(fraction * len(labels))
    positives = labels[subset].sum(axis=0)
    assert np.all(positives >= 1)  # every finding covered, even at 1 %
    assert np.all(np.abs(positives - fraction * labels.sum(axis=0)) <= 1.5)
    rest = np.setdiff1d(np.arange(len(labels)), subset)
    assert not set(patients[subset]) & set(patients[rest])


def test_uncoverable_classes_are_named():
    labels = np.zeros((10, 3), dtype=int)
    labels[:, 0] = 1
    with pytest.raises(ValueError, match="No positive example of Effusion, Hernia"):
        few_label_subset(labels, fraction=0.5, label_names=["Atelectasis", "Effusion", "Hernia"])
    with pytest.raises(ValueError, match="fewer than per_class=3"):
        few_label_subset(np.array([0, 0, 1]), per_class=3, label_names=["a", "b"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fraction": 0.0}, r"fraction must be in \(0, 1\]"),
        ({"per_class": 0}, "per_class must be at least 1"),
        ({}, "exactly one of fraction"),
        ({"fraction": 0.5, "per_class": 2}, "exactly one of fraction"),
        ({"fraction": 0.5, "groups": [1, 2]}, "one group id per image"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        few_label_subset(np.array([0, 1, 0, 1]), **kwargs)


def test_patient_disjoint_split(multi_label):
    _, patients = multi_label
    parts = patient_disjoint_split(patients, (0.7, 0.1, 0.2), seed=0)
    assert sum(len(p) for p in parts) == len(patients)
    assert [round(len(p) / len(patients), 2) for p in parts] == [0.7, 0.1, 0.2]
    for i, a in enumerate(parts):
        for b in parts[i + 1 :]:
            assert not set(patients[a]) & set(patients[b])
    with pytest.raises(ValueError, match="sum to 1"):
        patient_disjoint_split(patients, (0.5, 0.4))
