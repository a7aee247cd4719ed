"""A small image folder of real images (Fashion-MNIST, three classes, split folders), and a
demo-like recipe over it, shared by the tests of the programs and studies."""

import json
from pathlib import Path

import pytest

from mocoim_hub.data.adapters import default_dataset
from mocoim_hub.pretraining.recipe import PretrainRecipe

PER_CLASS = {"train": 40, "validation": 10, "test": 10}


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> Path:
    """`train|validation|test/<class>/<image>.png`: 120 / 30 / 30 images of 3 classes."""
    root = tmp_path_factory.mktemp("image-folder")
    splits = default_dataset()
    for split, per_class in PER_CLASS.items():
        dataset = splits[split]
        for label in (1, 7, 9):  # trouser, sneaker, ankle boot: names that are folder names
            for i in [i for i, y in enumerate(dataset.labels) if y == label][:per_class]:
                path = root / "images" / split / dataset.label_names[label] / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                dataset[i]["image"].save(path)
    return root / "images"


@pytest.fixture(scope="session")
def recipe(image_folder) -> Path:
    """The demo recipe on `image_folder`, with a 32-image batch: 3 steps an epoch."""
    values = {**PretrainRecipe.load("demo").to_dict(), "dataset": "image_folder",
              "data_path": str(image_folder), "batch_size": 32, "queue_size": 64,
              "barlow_dim": 64}  # fmt: skip
    values.pop("name", None)
    path = image_folder.parent / "tiny-demo.json"
    path.write_text(json.dumps(values))
    return path
