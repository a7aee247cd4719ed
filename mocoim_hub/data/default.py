"""The embedded default dataset: a class-balanced Fashion-MNIST subset shipped with the package.

No medical image set can be redistributed or installed offline, so the package carries a small
real one: 28x28 grayscale photographs of clothing, 10 classes, 1000 / 200 / 200 images per class
in train / validation / test (10k / 2k / 2k). **It is not medical data**; it stands in for it
so that pretraining, few-label evaluation and the demo run anywhere without a download.

Source: Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017, arXiv:1708.07747), © 2017 Zalando SE, MIT
licence; read from the original idx files (as Debian's `dataset-fashion-mnist` installs them).
Train and validation come from the original training set (disjoint), test from the original test
set; subsets drawn with numpy seed 0. Rebuild with `python training/build_default_dataset.py`.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import PIL.Image

from ..extras import require

DATA_DIR = Path(__file__).with_name("default")
SPLITS = ("train", "validation", "test")
PER_CLASS = {"train": 1000, "validation": 200, "test": 200}
LABEL_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
DEBIAN_IDX_DIR = Path("/usr/share/datasets/fashion-mnist")


def read_idx(path: str | Path) -> np.ndarray:
    """An array from an (optionally gzipped) idx file, the MNIST family's format."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        data = handle.read()
    zero, dtype_code, ndim = data[0] | data[1], data[2], data[3]
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte idx file.")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def balanced_indices(
    labels: np.ndarray, counts: list[int], rng: np.random.Generator
) -> list[np.ndarray]:
    """Disjoint index sets with `counts[k]` images of every class each, in a random order."""
    picks: list[list[np.ndarray]] = [[] for _ in counts]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        if len(members) < sum(counts):
            raise ValueError(f"Class {label} has {len(members)} images, fewer than {sum(counts)}.")
        start = 0
        for pick, count in zip(picks, counts, strict=True):
            pick.append(members[start : start + count])
            start += count
    return [rng.permutation(np.concatenate(pick)) for pick in picks]


def png_bytes(image: np.ndarray) -> bytes:
    """Uncompressed (still valid, lossless) PNG: zstd over the whole parquet column compresses
    10k small images far better than zlib inside each of them."""
    buffer = io.BytesIO()
    PIL.Image.fromarray(image).save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()


def build_default_dataset(
    idx_dir: str | Path = DEBIAN_IDX_DIR, out_dir: str | Path = DATA_DIR
) -> dict[str, int]:
    """Write train/validation/test parquet files (PNG bytes + label) from the idx files."""
    datasets = require_datasets()
    import pyarrow.parquet as pq  # installed with datasets

    features = _features(datasets)
    idx_dir, out_dir = Path(idx_dir), Path(out_dir)
    rng = np.random.default_rng(0)
    train_images, train_labels = (read_idx(idx_dir / name) for name in IDX_FILES["train"])
    test_images, test_labels = (read_idx(idx_dir / name) for name in IDX_FILES["test"])
    train, validation = balanced_indices(
        train_labels, [PER_CLASS["train"], PER_CLASS["validation"]], rng
    )
    (test,) = balanced_indices(test_labels, [PER_CLASS["test"]], rng)
    sources = {
        "train": (train_images, train_labels, train),
        "validation": (train_images, train_labels, validation),
        "test": (test_images, test_labels, test),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for split, (images, labels, indices) in sources.items():
        table = datasets.Dataset.from_dict(
            {
                "image": [{"bytes": png_bytes(images[i]), "path": None} for i in indices],
                "label": labels[indices].tolist(),
                "source_index": indices.tolist(),
            },
            features=features,
        )
        # pyarrow directly: datasets' writer fixes its own per-column compression
        pq.write_table(
            table.data.table, out_dir / f"{split}.parquet", compression="zstd", compression_level=19
        )
        sizes[split] = len(table)
    return sizes


def require_datasets():
    """The `datasets` library, or an ImportError that names the extra to install."""
    require("Reading datasets", "datasets", "pyarrow")
    import datasets

    return datasets


def _features(datasets):
    return datasets.Features(
        image=datasets.Image(),
        label=datasets.ClassLabel(names=list(LABEL_NAMES)),
        source_index=datasets.Value("int64"),
    )


def load_default_dataset(split: str | None = None, data_dir: str | Path = DATA_DIR):
    """The embedded dataset as a `datasets.DatasetDict` (or one split as a `datasets.Dataset`).

    Columns: `image` (PIL, 28x28 L), `label` (ClassLabel over `LABEL_NAMES`), `source_index`
    (row in the original Fashion-MNIST file).
    """
    datasets = require_datasets()
    features = _features(datasets)
    if split is not None and split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; expected one of {', '.join(SPLITS)}.")
    data_dir = Path(data_dir)
    wanted = [split] if split else list(SPLITS)
    missing = [s for s in wanted if not (data_dir / f"{s}.parquet").is_file()]
    if missing:
        raise FileNotFoundError(
            f"The embedded dataset is missing {missing} in {data_dir}; reinstall the package or "
            "run python training/build_default_dataset.py."
        )
    splits = {
        s: datasets.Dataset.from_parquet(str(data_dir / f"{s}.parquet"), features=features)
        for s in wanted
    }
    return splits[split] if split else datasets.DatasetDict(splits)
