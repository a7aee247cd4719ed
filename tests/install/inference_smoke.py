"""The README's inference path on a base install (no extras), run by the installed wheel's Python
from a folder outside the checkout (`tests/test_install.py`)."""

import numpy as np
import PIL.Image
from transformers import AutoImageProcessor, AutoModel, pipeline

import mocoim_hub
from mocoim_hub import (
    MocoImConfig,
    MocoImForImageClassification,
    MocoImImageProcessor,
    MocoImModel,
    load_image,
)
from mocoim_hub.extras import MissingExtraError
from mocoim_hub.features import embed_images


def expect_missing_extra(action, extra: str) -> None:
    try:
        action()
    except MissingExtraError as error:
        assert f"mocoim_hub[{extra}]" in str(error) and "\n" not in str(error), str(error)
    else:
        raise AssertionError(f"expected an error naming the {extra} extra")


assert "site-packages" in mocoim_hub.__file__, mocoim_hub.__file__
config = MocoImConfig(backbone="resnet18", image_size=32)
MocoImModel(config).save_pretrained("encoder")
MocoImImageProcessor.from_model_config(config).save_pretrained("encoder")
labels = {0: "normal", 1: "effusion"}
classifier_config = MocoImConfig(backbone="resnet18", image_size=32, id2label=labels)
MocoImForImageClassification(classifier_config).save_pretrained("classifier")
MocoImImageProcessor.from_model_config(classifier_config).save_pretrained("classifier")
pixels = np.random.default_rng(0).integers(0, 65535, (40, 48), dtype=np.uint16)
PIL.Image.fromarray(pixels).save("xray.png")  # a 16-bit grayscale PNG

model = AutoModel.from_pretrained("encoder").eval()
processor = AutoImageProcessor.from_pretrained("encoder")
inputs = processor(load_image("xray.png"))
outputs = model(**inputs, output_hidden_states=True)
assert outputs.pooler_output.shape == (1, 512) and len(outputs.hidden_states) == 5
features = model.layer_features(inputs["pixel_values"], layers=["layer2", "layer4"])
assert features["layer2"].shape == (1, 128)

embedding = pipeline("image-feature-extraction", model="encoder")(load_image("xray.png"), pool=True)
assert np.asarray(embedding).shape[-1] == 512
predictions = pipeline("image-classification", model="classifier")(load_image("xray.png"))
assert {p["label"] for p in predictions} == set(labels.values())
batch = embed_images(model, processor, ["xray.png"] * 3, layers="layer4", progress=False)
assert batch["layer4"].shape == (3, 512)

with open("scan.dcm", "wb") as dicom:  # DICOM preamble: read_dicom needs the dicom extra
    dicom.write(b"\0" * 128 + b"DICM")
expect_missing_extra(lambda: load_image("scan.dcm"), "dicom")
expect_missing_extra(lambda: __import__("mocoim_hub.finetune"), "train")
print("inference on the base install: ok")
