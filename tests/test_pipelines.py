"""transformers' image pipelines take what `load_image` and the processor take, with the same
intensity handling: PIL, numpy, torch, 16-bit PNG paths, DICOM paths and pydicom datasets."""

import numpy as np
import PIL.Image
import pydicom
import pytest
import torch
from pydicom.data import get_testdata_file
from transformers import ResNetConfig, ResNetModel, pipeline
from transformers.image_utils import load_image as transformers_load_image

from mocoim_hub import (
    MocoImConfig,
    MocoImForImageClassification,
    MocoImImageProcessor,
    MocoImModel,
    load_image,
)
from mocoim_hub.pipelines import MocoImImageFeatureExtractionPipeline

CT = get_testdata_file("CT_small.dcm")


@pytest.fixture(scope="module")
def xray_png(tmp_path_factory) -> str:
    """A 16-bit PNG whose content lives in the low byte: 8-bit conversion would flatten it."""
    ramp = np.tile(np.linspace(0, 255, 48, dtype=np.uint16), (48, 1))
    path = tmp_path_factory.mktemp("xray") / "xray16.png"
    PIL.Image.fromarray(ramp).save(path)
    return str(path)


def embedding(model_dir: str, image) -> torch.Tensor:
    model = MocoImModel.from_pretrained(model_dir).eval()
    pixels = MocoImImageProcessor.from_pretrained(model_dir)(image)["pixel_values"]
    with torch.no_grad():
        return model(pixels).pooler_output[0]


def test_feature_extraction_reads_every_input_kind_as_the_processor_does(saved_model_dir, xray_png):
    extract = pipeline("image-feature-extraction", model=saved_model_dir)
    assert isinstance(extract, MocoImImageFeatureExtractionPipeline)
    inputs = {
        "16-bit PNG path": (xray_png, load_image(xray_png)),
        "DICOM path": (CT, load_image(CT)),
        "pydicom dataset": (pydicom.dcmread(CT), load_image(CT)),
        "numpy float": (load_image(CT), load_image(CT)),
        "torch tensor": (torch.from_numpy(load_image(CT))[None], load_image(CT)),
        "PIL I;16": (PIL.Image.open(xray_png), load_image(xray_png)),
    }
    for name, (given, reference) in inputs.items():
        piped = torch.tensor(extract(given, pool=True))[0]
        assert torch.allclose(piped, embedding(saved_model_dir, reference), atol=1e-5), name
    as_8_bit = embedding(saved_model_dir, transformers_load_image(xray_png))  # values 0..255 of 255
    assert not torch.allclose(torch.tensor(extract(xray_png, pool=True))[0], as_8_bit, atol=1e-2)


def test_classification_of_a_dicom_path_gives_sigmoid_scores(tmp_path):
    labels = ["Atelectasis", "Effusion", "Pneumothorax"]
    config = MocoImConfig(backbone="resnet18", image_size=32, id2label=dict(enumerate(labels)),
                          problem_type="multi_label_classification")  # fmt: skip
    torch.manual_seed(0)
    model = MocoImForImageClassification(config).eval()
    model.save_pretrained(tmp_path)
    processor = MocoImImageProcessor.from_model_config(config)
    processor.save_pretrained(tmp_path)
    classify = pipeline("image-classification", model=str(tmp_path))
    scores = {row["label"]: row["score"] for row in classify(CT, top_k=None)}
    with torch.no_grad():
        expected = model(processor(load_image(CT))["pixel_values"]).logits[0].sigmoid()
    assert scores == pytest.approx(dict(zip(labels, expected.tolist(), strict=True)), abs=1e-5)


def test_other_models_keep_transformers_behaviour():
    model = ResNetModel(ResNetConfig(embedding_size=8, hidden_sizes=[8, 8], depths=[1, 1])).eval()
    extract = pipeline("image-feature-extraction", model=model,
                       image_processor=MocoImImageProcessor(num_channels=3))  # fmt: skip
    with pytest.raises(TypeError, match="Incorrect format used for image"):  # as without mocoim_hub
        extract(np.zeros((32, 32, 3), np.uint8))


def test_a_folder_naming_another_processor_is_refused_naming_it(tmp_path, saved_model_dir):
    """A preprocessor_config.json that names ViT's processor would normalise a 16-bit X-ray as
    ViT does; the pipeline refuses the folder instead, naming the class and the fix."""
    import shutil

    from transformers import ViTImageProcessor

    folder = tmp_path / "model"
    shutil.copytree(saved_model_dir, folder)
    (folder / "preprocessor_config.json").unlink()
    ViTImageProcessor().save_pretrained(folder)
    with pytest.raises(
        ValueError, match="image processor is ViTImageProcessor.*image_processor_type"
    ):
        pipeline("image-feature-extraction", model=str(folder))
    fixed = pipeline("image-feature-extraction", model=str(folder),
                     image_processor=MocoImImageProcessor(size=32, crop_size=32))  # fmt: skip
    assert np.asarray(fixed(np.zeros((40, 40), np.uint8), pool=True)).shape == (1, 512)
