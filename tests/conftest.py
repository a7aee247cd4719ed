"""Shared fixtures. The environment is set before transformers or huggingface_hub are imported:
both read it once, at import."""

import json
import os
import tempfile
from pathlib import Path

_HF_HOME = tempfile.mkdtemp(prefix="mocoim-hf-home-")
os.environ.update(
    HF_HOME=_HF_HOME,
    HF_HUB_OFFLINE="1",
    HF_HUB_DISABLE_TELEMETRY="1",
    HF_HUB_DISABLE_PROGRESS_BARS="1",
    HF_HUB_DISABLE_XET="1",
    GRADIO_ANALYTICS_ENABLED="False",
    TRANSFORMERS_VERBOSITY="error",
)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hub_server import HUB_TOKEN, HubServer  # noqa: E402

from mocoim_hub import MocoImConfig, MocoImImageProcessor, MocoImModel  # noqa: E402
from mocoim_hub.data.adapters import default_dataset  # noqa: E402
from mocoim_hub.finetune import Encoder  # noqa: E402
from mocoim_hub.pretraining.recipe import PretrainRecipe  # noqa: E402

TIERS = {"install", "faults", "multiprocess", "browser", "load", "compile", "studies"}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(items):
    """A test of a slower tier is `extended`: left out of `python -m pytest`, run by CI after it."""
    for item in items:
        if TIERS & {mark.name for mark in item.iter_markers()}:
            item.add_marker(pytest.mark.extended)


@pytest.fixture
def tiny_config() -> MocoImConfig:
    """A resnet18 on 32 px gray images: fast enough for every test."""
    return MocoImConfig(backbone="resnet18", num_channels=1, image_size=32)


@pytest.fixture(scope="session")
def saved_model_dir(tmp_path_factory) -> str:
    """A saved random-init encoder with its processor, as `save_pretrained` writes it."""
    torch.manual_seed(0)
    config = MocoImConfig(backbone="resnet18", num_channels=1, image_size=32)
    folder = tmp_path_factory.mktemp("model")
    MocoImModel(config).save_pretrained(folder)
    MocoImImageProcessor.from_model_config(config).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def retina() -> np.ndarray:
    """A real fundus photograph (scikit-image, CC0), 1411x1411 RGB uint8."""
    from skimage.data import retina

    return retina()


@pytest.fixture
def hub(monkeypatch):
    """A local Hub-protocol server that requires `HUB_TOKEN` for writes. huggingface_hub in this
    process (`HfApi()`) and in subprocesses started with `os.environ` talks to it, online."""
    from huggingface_hub import constants

    with HubServer(token=HUB_TOKEN) as server:
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        template = server.url + "/{repo_id}/resolve/{revision}/{filename}"
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
        yield server


@pytest.fixture(scope="session")
def small_splits():
    """300 train / 100 validation / 100 test real images (the embedded dataset, 10 classes)."""
    splits = default_dataset()
    sizes = {"train": 300, "validation": 100, "test": 100}
    return {name: splits[name].subset(np.arange(size)) for name, size in sizes.items()}


@pytest.fixture
def encoder() -> Encoder:
    """A random-init resnet18 at 32 px."""
    return Encoder.random_init(MocoImModel(MocoImConfig(backbone="resnet18", image_size=32)))


IMAGE_FOLDER_PER_CLASS = {"train": 40, "validation": 10, "test": 10}


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> Path:
    """`train|validation|test/<class>/<image>.png`: 120 / 30 / 30 images of 3 classes."""
    root = tmp_path_factory.mktemp("image-folder")
    splits = default_dataset()
    for split, per_class in IMAGE_FOLDER_PER_CLASS.items():
        dataset = splits[split]
        for label in (1, 7, 9):  # trouser, sneaker, ankle boot: names that are folder names
            for i in [i for i, y in enumerate(dataset.labels) if y == label][:per_class]:
                path = root / "images" / split / dataset.label_names[label] / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                dataset[i]["image"].save(path)
    return root / "images"


@pytest.fixture(scope="session")
def example_archive(tmp_path_factory) -> Path:
    """A mixed archive made from real images (`write_example_archive`): nested DICOM folders
    without suffixes (half MONOCHROME1), class folders of 16-bit PNGs, a flat folder of JPEGs
    with a truncated file and a text file, and labels.csv with `A|B` findings and patients."""
    from mocoim_hub.examples import write_example_archive

    return write_example_archive(tmp_path_factory.mktemp("archive") / "my_images")


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
