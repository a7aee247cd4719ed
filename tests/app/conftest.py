"""The Gradio app served on localhost for the app tests."""

from pathlib import Path

import pytest
import torch

from mocoim_hub import MocoImConfig, MocoImForImageClassification, MocoImImageProcessor, MocoImModel
from mocoim_hub.app import build_demo, launch

MAX_FILE_SIZE_MB = 2  # small, so that the test of the upload limit sends little


@pytest.fixture(scope="session")
def encoder_dir(tmp_path_factory) -> str:
    """A random-init encoder with informative features (residual branches not zeroed)."""
    config = MocoImConfig(backbone="resnet18", image_size=32, zero_init_residual=False)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("encoder")
    MocoImModel(config).save_pretrained(folder)
    MocoImImageProcessor.from_model_config(config).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def served(encoder_dir, classifier_dir):
    """(url, name of the encoder) of the demo serving an encoder and a classifier, launched once
    for the session."""
    demo = build_demo([encoder_dir, f"chest classifier={classifier_dir}"], MAX_FILE_SIZE_MB)
    launch(demo, MAX_FILE_SIZE_MB, prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    yield demo.local_url, Path(encoder_dir).name
    demo.close()


@pytest.fixture(scope="session")
def classifier_dir(tmp_path_factory) -> str:
    labels = ["Atelectasis", "Effusion", "Pneumothorax"]
    config = MocoImConfig(backbone="resnet18", image_size=32, problem_type="multi_label_classification",
                          id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})  # fmt: skip
    config.architectures = [MocoImForImageClassification.__name__]
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("classifier")
    MocoImForImageClassification(config).save_pretrained(folder)
    MocoImImageProcessor.from_model_config(config).save_pretrained(folder)
    return str(folder)
