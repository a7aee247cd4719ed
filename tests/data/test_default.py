import numpy as np
import pytest

from mocoim_hub.data.default import (
    DEBIAN_IDX_DIR,
    LABEL_NAMES,
    balanced_indices,
    build_default_dataset,
    load_default_dataset,
    read_idx,
)


@pytest.fixture(scope="module")
def default_dataset():
    return load_default_dataset()


def test_splits_are_class_balanced_grayscale_images(default_dataset):
    assert {k: len(v) for k, v in default_dataset.items()} == {
        "train": 10000, "validation": 2000, "test": 2000,
    }  # fmt: skip
    for split, per_class in (("train", 1000), ("validation", 200), ("test", 200)):
        assert np.bincount(default_dataset[split]["label"]).tolist() == [per_class] * 10
    sample = default_dataset["train"][0]
    assert sample["image"].mode == "L" and sample["image"].size == (28, 28)
    assert default_dataset["train"].features["label"].names == list(LABEL_NAMES)


def test_train_and_validation_do_not_overlap(default_dataset):
    train = set(default_dataset["train"]["source_index"])
    assert not train & set(default_dataset["validation"]["source_index"])


def test_unknown_split_is_rejected():
    with pytest.raises(ValueError, match="expected one of train, validation, test"):
        load_default_dataset("val")


def test_idx_reader_and_balanced_draws(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 0x08, 3]) + b"".join(d.to_bytes(4, "big") for d in images.shape)
    (tmp_path / "x.idx").write_bytes(header + images.tobytes())
    assert np.array_equal(read_idx(tmp_path / "x.idx"), images)
    labels = np.repeat([0, 1, 2], 10)
    first, second = balanced_indices(labels, [3, 5], np.random.default_rng(0))
    assert np.bincount(labels[first]).tolist() == [3, 3, 3]
    assert np.bincount(labels[second]).tolist() == [5, 5, 5]
    assert not set(first) & set(second)


@pytest.mark.skipif(not DEBIAN_IDX_DIR.is_dir(), reason="needs Debian's dataset-fashion-mnist")
def test_rebuild_reproduces_the_shipped_images(tmp_path, default_dataset):
    build_default_dataset(out_dir=tmp_path)
    rebuilt = load_default_dataset("test", data_dir=tmp_path)
    shipped = default_dataset["test"]
    assert rebuilt["source_index"] == shipped["source_index"]
    assert rebuilt["label"] == shipped["label"]
    assert np.array_equal(np.asarray(rebuilt[7]["image"]), np.asarray(shipped[7]["image"]))
