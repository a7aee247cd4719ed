"""The Gradio app served on localhost for the app tests."""

import pytest
import torch

from mocoim_hub import MocoImConfig, MocoImForImageClassification, MocoImImageProcessor, MocoImModel
from mocoim_hub.app import build_demo


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
def served(encoder_dir):
    """(url, model folder) of the demo, launched once for the session."""
    demo = build_demo(encoder_dir)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    yield demo.local_url, encoder_dir
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
