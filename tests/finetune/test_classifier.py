"""A fine-tuned classifier saved as a folder people load, serve and publish: multi-label
(NIH-style, sigmoid) and ordinal (DR-style grades) heads, through the real transformers pipeline."""

import json

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard
from transformers import pipeline

from mocoim_hub import MocoImForImageClassification, MocoImImageProcessor
from mocoim_hub.data.adapters import ImageDataset
from mocoim_hub.finetune import fine_tune, run_sweep, save_classifier

FINDINGS = ["upper-body", "footwear", "dark"]


def multi_label(split: ImageDataset) -> ImageDataset:
    """The embedded images with three overlapping findings, a multi-hot matrix as NIH's."""
    classes = np.asarray(split.labels)
    images = [split[i]["image"] for i in range(len(split))]
    brightness = np.array([np.asarray(image).mean() for image in images])
    hot = np.stack([np.isin(classes, [0, 2, 4, 6]), np.isin(classes, [5, 7, 9]),
                    brightness < np.median(brightness)], axis=1).astype(np.float32)  # fmt: skip
    return ImageDataset(images, hot, FINDINGS)


@pytest.fixture(scope="module")
def nih_style(small_splits) -> dict[str, ImageDataset]:
    return {name: multi_label(split) for name, split in small_splits.items()}


def test_a_multi_label_classifier_is_saved_with_everything_to_use_it(encoder, nih_style, tmp_path):
    result = fine_tune(encoder.model, encoder.processor, nih_style["train"], nih_style["validation"],
                       "multi-label", epochs=1, num_workers=0, progress=False)  # fmt: skip
    folder = save_classifier(result.model, encoder.processor, tmp_path / "nih-1pct", test=nih_style["test"],
                             dataset="NIH-style", label_fraction=0.01, n_resamples=50,
                             settings={"encoder": "org/mocoim-nih", "best_epoch": result.best_epoch})  # fmt: skip

    loaded = MocoImForImageClassification.from_pretrained(folder).eval()
    config = loaded.config
    assert (
        config.problem_type == "multi_label_classification"
        and list(config.id2label.values()) == FINDINGS
    )
    assert config.finetuning_hparams == {"dataset": "NIH-style", "label_fraction": 0.01,
                                         "encoder": "org/mocoim-nih", "best_epoch": 1}  # fmt: skip
    rows = json.loads((folder / "eval_results.json").read_text())
    assert [r["metric"] for r in rows] == ["mean_auroc"]
    assert rows[0]["ci_low"] <= rows[0]["value"] <= rows[0]["ci_high"]

    card = ModelCard.load(folder / "README.md")
    assert (
        card.data.pipeline_tag == "image-classification"
        and card.data.base_model == "org/mocoim-nih"
    )
    assert "one sigmoid per label" in card.text and "| `label_fraction` | `0.01` |" in card.text
    assert (
        f"| 1 % | this model | 1 | {rows[0]['value']:.3f} ({rows[0]['ci_low']:.3f}–{rows[0]['ci_high']:.3f}) |"
        in card.text
    )

    image = nih_style["test"][0]["image"]
    scores = {
        r["label"]: r["score"]
        for r in pipeline("image-classification", model=str(folder))(image, top_k=None)
    }
    processor = MocoImImageProcessor.from_pretrained(folder)
    with torch.no_grad():
        expected = loaded(processor(image)["pixel_values"]).logits[0].sigmoid().tolist()
    assert scores == pytest.approx(dict(zip(FINDINGS, expected, strict=True)), abs=1e-5)


@pytest.mark.slow
def test_a_sweep_keeps_the_classifier_asked_for_and_an_ordinal_head_is_saved(
    encoder, small_splits, tmp_path
):
    results = run_sweep([encoder], small_splits, "grades", fractions=[0.1, 1.0], seeds=[0], modes=["full"],
                        ordinal=True, n_resamples=20, fine_tune_options={"epochs": 1, "num_workers": 0},
                        keep=(1.0, 0), progress=False)  # fmt: skip
    assert isinstance(results.classifier.model, MocoImForImageClassification)
    assert "classifier" not in json.dumps(results.to_dict())
    folder = save_classifier(results.classifier.model, encoder.processor, tmp_path / "dr", ordinal=True,
                             test=small_splits["test"], dataset="grades", n_resamples=20)  # fmt: skip
    rows = json.loads((folder / "eval_results.json").read_text())
    assert {r["metric"] for r in rows} == {"accuracy", "macro_f1", "quadratic_kappa"}
    assert (
        MocoImForImageClassification.from_pretrained(folder).config.problem_type
        == "single_label_classification"
    )
    with pytest.raises(
        ValueError, match="keep=\\(0.5, 0\\) needs mode 'full' and a \\(fraction, seed\\)"
    ):
        run_sweep(
            [encoder],
            small_splits,
            "grades",
            fractions=[1.0],
            seeds=[0],
            modes=["full"],
            keep=(0.5, 0),
        )
