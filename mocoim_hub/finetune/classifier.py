"""A fine-tuned classifier kept as a model folder people can load, serve and publish: weights with
`id2label` and `problem_type`, the processor, how it was fine-tuned (in its config), its test
metrics with bootstrap intervals, and a model card (`pipeline_tag: image-classification`)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from ..data.adapters import ImageDataset
from ..hub import save_for_hub
from ..image_processing_mocoim import MocoImImageProcessor
from ..modeling_mocoim import MocoImForImageClassification
from ..results import Estimate
from .full import predict
from .metrics import bootstrap, task_of
from .report import HEADLINE

INTERVAL = "test images, one model"  # how `Estimate.interval` names this model's own intervals


def test_evaluations(
    model: MocoImForImageClassification,
    processor: MocoImImageProcessor,
    test: ImageDataset,
    *,
    dataset: str,
    label_fraction: float,
    ordinal: bool = False,
    n_resamples: int = 1000,
    name: str = "classifier",
) -> list[Estimate]:
    """The headline metrics of `model` on `test`, each with a 95 % percentile-bootstrap interval
    over the test images, as the rows of its model card."""
    task = task_of(test.labels, len(test.label_names))
    scores = predict(model, processor, test, task)
    intervals = bootstrap(task, test.labels, scores, n_resamples, ordinal=ordinal)
    row = partial(Estimate, name, "full", label_fraction, dataset=dataset, interval=INTERVAL)
    headline = [(metric, score) for metric, score in intervals.items() if metric in HEADLINE[task]]
    return [row(metric, score.value, score.low, score.high) for metric, score in headline]


def save_classifier(
    model: MocoImForImageClassification,
    processor: MocoImImageProcessor,
    folder: str | Path,
    *,
    test: ImageDataset | None = None,
    dataset: str = "",
    label_fraction: float = 1.0,
    settings: dict[str, Any] | None = None,
    ordinal: bool = False,
    n_resamples: int = 1000,
    repo_id: str | None = None,
    force: bool = False,
) -> Path:
    """Write `model` (a fine-tuned `MocoImForImageClassification`) to `folder` with its processor,
    the fine-tuning `settings` (`encoder`: the folder or Hub id it started from, which the card
    names as its base model), its metrics on `test` (when given) and its model card."""
    folder = Path(folder)
    model.config.finetuning_hparams = {"dataset": dataset, "label_fraction": label_fraction,
                                       **(settings or {})}  # fmt: skip
    evaluations = []
    if test is not None:
        evaluations = test_evaluations(model, processor, test, dataset=dataset, label_fraction=label_fraction,
                                       ordinal=ordinal, n_resamples=n_resamples, name=folder.name)  # fmt: skip
    return save_for_hub(model, processor, folder, repo_id or f"your-org/{folder.name}",
                        evaluations=evaluations, force=force)  # fmt: skip
