"""Layer-wise probing: how linearly decodable the labels are from the global-average-pooled output
of each stage of a frozen encoder, with few labels, against a random-init control."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from tqdm.auto import tqdm

from ..configuration_mocoim import STAGE_NAMES
from ..data.adapters import ImageDataset
from ..finetune import Encoder, bootstrap, extract_features, labelled_subsets, linear_probe, task_of
from ..finetune.metrics import PRIMARY_METRIC
from ..finetune.sweep import probe_seeds
from ..results import Estimate


def layerwise_probing(
    encoders: Sequence[Encoder],
    splits: dict[str, ImageDataset],
    layers: Sequence[str] = STAGE_NAMES,
    fractions: Sequence[float] = (0.01, 0.1, 1.0),
    seeds: Sequence[int] = (0, 1, 2),
    cache_dir: str | Path | None = None,
    n_resamples: int = 1000,
    progress: bool = True,
) -> list[Estimate]:
    """Probe every layer of every encoder (include `Encoder.random_init(...)` as the control) on
    the same labelled subsets; the score is the task's primary metric on the test split."""
    train, validation, test = splits["train"], splits["validation"], splits["test"]
    task = task_of(train.labels, len(train.label_names))
    metric = PRIMARY_METRIC[task]
    subsets = labelled_subsets(train, fractions, seeds)
    results = []
    for encoder in encoders:
        features = {
            name: extract_features(encoder.model, data, layers=list(layers), processor=encoder.processor,
                                   cache_dir=cache_dir, progress=progress)
            for name, data in (("train", train), ("validation", validation), ("test", test))
        }  # fmt: skip
        for layer in tqdm(
            layers, desc=f"probing {encoder.name}", unit="layer", disable=not progress
        ):
            for fraction in fractions:
                runs = probe_seeds(fraction, seeds)
                scores = []
                for seed in runs:
                    rows = subsets[fraction, seed]
                    probe = linear_probe(features["train"][layer][rows], train.labels[rows],
                                         features["validation"][layer], validation.labels, task)  # fmt: skip
                    scores.append(probe.scores(features["test"][layer]))
                score = bootstrap(task, test.labels, scores, n_resamples)[metric]
                results.append(Estimate(encoder.name, "linear", fraction, metric, score.value,
                                        score.low, score.high, len(runs), layer=layer))  # fmt: skip
    return results


def probing_table(results: Sequence[Estimate]) -> str:
    """Markdown: one row per (model, labels), one column per layer."""
    layers = list(dict.fromkeys(r.layer for r in results))
    lines = ["| model | labels | " + " | ".join(layers) + " |", "|---|---|" + "---|" * len(layers)]
    for model, fraction in dict.fromkeys((r.model, r.label_fraction) for r in results):
        cells = {
            r.layer: f"{r.value:.3f}"
            for r in results
            if (r.model, r.label_fraction) == (model, fraction)
        }
        lines.append(
            f"| {model} | {fraction * 100:g} % | "
            + " | ".join(cells[layer] for layer in layers)
            + " |"
        )
    return "\n".join(lines) + "\n"


def probing_rows(results: Sequence[Estimate]) -> list[dict]:
    """The layer-wise probing estimates as plain dicts, as `analysis.json` stores them."""
    return [asdict(r) for r in results]
