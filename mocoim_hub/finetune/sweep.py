"""Few-label sweeps: several encoders × label fractions × seeds × modes (linear probe, full
fine-tuning), on identical labelled subsets for every encoder, each evaluated on the test split.

Per (encoder, mode, fraction) the summary reports the mean over seeds of each metric with a 95 %
percentile-bootstrap interval over the test images (see `metrics.bootstrap`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.adapters import ImageDataset
from ..data.splits import few_label_subset
from ..features import extract_features
from ..image_processing_mocoim import MocoImImageProcessor
from ..modeling_mocoim import MocoImModel
from ..results import Estimate
from .full import FineTuneResult, fine_tune, predict
from .linear import DEFAULT_L2, linear_probe
from .metrics import PRIMARY_METRIC, Task, bootstrap, evaluate, task_of

MODES = ("linear", "full")
DEFAULT_FRACTIONS = (0.01, 0.1, 1.0)


@dataclass
class Encoder:
    """An encoder to compare, under the name the results use."""

    name: str
    model: MocoImModel
    processor: MocoImImageProcessor

    @classmethod
    def from_pretrained(cls, name: str, source: str, **kwargs) -> Encoder:
        """A saved model folder or Hub repo."""
        return cls(name, MocoImModel.from_pretrained(source, **kwargs),
                   MocoImImageProcessor.from_pretrained(source, **kwargs))  # fmt: skip

    @classmethod
    def random_init(cls, like: MocoImModel, seed: int = 0, name: str = "random") -> Encoder:
        """The baseline: `like`'s architecture with torchvision's initialisation and BatchNorm
        statistics at their defaults. Residual branches are not zero-initialised: frozen features
        of a zero-initialised network are degenerate (25.7 % linear-probe accuracy on the default
        dataset against 83.6 % without, measured with resnet18 at 32 px)."""
        config = copy.deepcopy(like.config)
        config.zero_init_residual = False
        torch.manual_seed(seed)
        return cls(name, MocoImModel(config), MocoImImageProcessor.from_model_config(config))


@dataclass
class Run:
    """One trained probe or fine-tuned model, evaluated on the test split."""

    model: str
    mode: str
    label_fraction: float
    seed: int
    train_images: int
    metrics: dict[str, float]
    chosen: dict[str, float] = field(
        default_factory=dict
    )  # l2 or best_epoch, and its validation score


@dataclass
class SweepResults:
    """What `run_sweep` measured: every run, the summary over seeds with bootstrap intervals, and
    the classifier `keep` asked for. `to_dict`/`from_dict` are `results.json`."""

    task: str
    dataset: str
    runs: list[Run]
    summary: list[Estimate]  # mean over seeds of each metric, interval over `interval`
    interval: str = "test images"  # what the summary's bootstrap intervals resample
    classifier: FineTuneResult | None = field(default=None, repr=False)  # the one `keep` asked for

    def to_dict(self) -> dict:
        return {"task": self.task, "dataset": self.dataset, "interval": self.interval,
                "runs": [asdict(r) for r in self.runs],
                "summary": [asdict(s) for s in self.summary]}  # fmt: skip

    @classmethod
    def from_dict(cls, values: dict) -> SweepResults:
        """The inverse of `to_dict` (e.g. a `results.json` read back)."""
        return cls(**{**values, "runs": [Run(**r) for r in values["runs"]],
                      "summary": [Estimate(**s) for s in values["summary"]]})  # fmt: skip

    def value(self, model: str, mode: str, fraction: float, metric: str) -> Estimate:
        for row in self.summary:
            if (row.model, row.mode, row.label_fraction, row.metric) == (
                model,
                mode,
                fraction,
                metric,
            ):
                return row
        raise KeyError(f"no result for {model}, {mode}, {fraction}, {metric}")


def probe_seeds(fraction: float, seeds: Sequence[int]) -> list[int]:
    """The seeds a linear probe needs: with all labels every seed has the same subset and the
    same (deterministic) probe, so one is enough."""
    return list(seeds) if fraction < 1 else list(seeds[:1])


def labelled_subsets(
    train: ImageDataset, fractions: Sequence[float], seeds: Sequence[int]
) -> dict[tuple[float, int], np.ndarray]:
    """The training indices of each (fraction, seed): stratified, patient-grouped, and the same
    for every encoder of a sweep."""
    return {
        (fraction, seed): few_label_subset(train.labels, fraction, seed=seed,
                                           groups=train.patient_ids, label_names=train.label_names)
        for fraction in fractions for seed in seeds
    }  # fmt: skip


def run_sweep(
    encoders: Sequence[Encoder],
    splits: dict[str, ImageDataset],
    dataset_name: str,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seeds: Sequence[int] = (0, 1, 2),
    modes: Sequence[str] = ("linear",),
    layer: str = "layer4",
    cache_dir: str | Path | None = None,
    l2: Sequence[float] = DEFAULT_L2,
    ordinal: bool = False,
    n_resamples: int = 1000,
    fine_tune_options: dict | None = None,
    keep: tuple[float, int] | None = None,
    progress: bool = True,
) -> SweepResults:
    """Train and test a probe (`"linear"`) or a fine-tuned model (`"full"`) per encoder, mode,
    label fraction and seed; summarise each (encoder, mode, fraction) over its seeds. With
    `keep=(fraction, seed)`, the first encoder's classifier fine-tuned with that labelled subset
    is returned in `classifier` (the others are dropped as they are tested)."""
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        raise ValueError(f"Unknown mode(s) {unknown}; expected some of {', '.join(MODES)}.")
    missing = {"train", "validation", "test"} - set(splits)
    if missing:
        raise ValueError(
            f"The sweep needs train, validation and test splits; missing {sorted(missing)}."
        )
    train, validation, test = splits["train"], splits["validation"], splits["test"]
    task = task_of(train.labels, len(train.label_names))
    subsets = labelled_subsets(train, fractions, seeds)
    if keep is not None and ("full" not in modes or tuple(keep) not in subsets):
        raise ValueError(
            f"keep={keep} needs mode 'full' and a (fraction, seed) of the sweep: fractions "
            f"{list(fractions)}, seeds {list(seeds)}."
        )
    kept = None
    runs: list[Run] = []
    test_scores: dict[tuple[str, str, float], list[np.ndarray]] = {}
    for encoder in encoders:
        if "linear" in modes:
            features = {
                split: extract_features(encoder.model, data, processor=encoder.processor, layers=layer,
                                        cache_dir=cache_dir, progress=progress)[layer]
                for split, data in (("train", train), ("validation", validation), ("test", test))
            }  # fmt: skip
        for mode in modes:
            jobs = tqdm(
                subsets.items(), desc=f"{encoder.name} {mode}", unit="run", disable=not progress
            )
            for (fraction, seed), rows in jobs:
                if mode == "linear" and seed not in probe_seeds(fraction, seeds):
                    continue
                if mode == "linear":
                    probe = linear_probe(features["train"][rows], train.labels[rows],
                                         features["validation"], validation.labels, task, l2, ordinal)  # fmt: skip
                    scores = probe.scores(features["test"])
                    chosen = {"l2": probe.l2, **_validation(probe.validation, task)}
                else:
                    result = fine_tune(encoder.model, encoder.processor, train.subset(rows), validation,
                                       task, ordinal=ordinal, seed=seed, progress=False,
                                       **(fine_tune_options or {}))  # fmt: skip
                    scores = predict(result.model, encoder.processor, test, task)
                    if encoder is encoders[0] and (fraction, seed) == tuple(keep or ()):
                        kept = result
                    chosen = {"best_epoch": result.best_epoch,
                              **_validation(result.history[result.best_epoch - 1], task)}  # fmt: skip
                runs.append(Run(encoder.name, mode, fraction, seed, len(rows),
                                evaluate(task, test.labels, scores, ordinal), chosen))  # fmt: skip
                test_scores.setdefault((encoder.name, mode, fraction), []).append(scores)
    summary = [
        Estimate(name, mode, fraction, metric, score.value, score.low, score.high, len(scores))
        for (name, mode, fraction), scores in test_scores.items()
        for metric, score in bootstrap(
            task, test.labels, scores, n_resamples, ordinal=ordinal
        ).items()
    ]
    return SweepResults(task, dataset_name, runs, summary, classifier=kept)


def _validation(metrics: dict[str, float], task: Task) -> dict[str, float]:
    primary = PRIMARY_METRIC[task]
    return {f"validation_{primary}": metrics[primary]}
