"""Summaries of the reproduction study (`training/reproduce.py`): MoCo, MoCo+MSE and
MoCo+Barlow-Twins pretrained with the same budget and several seeds, compared with few labels.

The unit of replication is the pretraining seed: each encoder's score is averaged over its
labelled-subset seeds first, then the methods are summarised by the mean over pretraining seeds with
a percentile-bootstrap interval over those seeds (`over_seeds`). The random-init baseline gets as
many initialisation seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mocoim_hub.finetune.report import HEADLINE
from mocoim_hub.finetune.sweep import Run, SweepResults
from mocoim_hub.results import Estimate

from .runs import method_of


def seed_interval(
    values: Sequence[float], n_resamples: int = 10_000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of per-seed values with a percentile-bootstrap interval from resampling the seeds.
    With 3 seeds the interval can only span the range of the seed means; it says how much the
    result moved between pretraining runs, not more."""
    values = np.asarray(values, dtype=np.float64)
    means = _resampled_means(values, n_resamples, np.random.default_rng(seed))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(values.mean()), float(low), float(high)


def _resampled_means(values: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of `n_resamples` bootstrap resamples (with replacement) of `values`."""
    return values[rng.integers(0, len(values), (n_resamples, len(values)))].mean(axis=1)


def _encoder_means(runs: Sequence[Run], metrics: Sequence[str]) -> dict[tuple, float]:
    """(encoder, mode, fraction, metric) -> mean over the encoder's labelled-subset seeds."""
    grouped: dict[tuple, list[float]] = {}
    for run in runs:
        for metric in metrics:
            key = (run.model, run.mode, run.label_fraction, metric)
            grouped.setdefault(key, []).append(run.metrics[metric])
    return {key: float(np.mean(values)) for key, values in grouped.items()}


def over_seeds(results: SweepResults, n_resamples: int = 10_000) -> SweepResults:
    """The sweep of every (method, seed) encoder summarised per method: mean over pretraining seeds
    with a bootstrap interval over them (the sweep's runs are kept as they are)."""
    metrics = [m for m in HEADLINE[results.task] if m in results.runs[0].metrics]
    per_method: dict[tuple, list[float]] = {}
    for (model, mode, fraction, metric), value in _encoder_means(results.runs, metrics).items():
        per_method.setdefault((method_of(model), mode, fraction, metric), []).append(value)
    summary = [
        Estimate(method, mode, fraction, metric, *seed_interval(values, n_resamples), len(values))
        for (method, mode, fraction, metric), values in per_method.items()
    ]
    return SweepResults(results.task, results.dataset, results.runs, summary,
                        interval="pretraining seeds")  # fmt: skip


def probing_over_seeds(results: Sequence[Estimate], n_resamples: int = 10_000) -> list[Estimate]:
    """Layer-wise probing scores of (method, seed) encoders summarised per method over seeds."""
    per_method: dict[tuple, list[float]] = {}
    for r in results:
        per_method.setdefault((method_of(r.model), r.layer, r.label_fraction, r.metric), []).append(
            r.value
        )
    return [
        Estimate(
            method,
            "linear",
            fraction,
            metric,
            *seed_interval(values, n_resamples),
            len(values),
            layer=layer,
            interval="pretraining seeds",
        )  # fmt: skip
        for (method, layer, fraction, metric), values in per_method.items()
    ]


def differences(
    results: SweepResults,
    baseline: str,
    metric: str,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> list[Estimate]:
    """Every other method's gain over `baseline`, per mode and label fraction, with a bootstrap
    interval over both methods' seeds (resampled independently)."""
    values: dict[tuple, list[float]] = {}
    for (model, mode, fraction, _), value in _encoder_means(results.runs, [metric]).items():
        values.setdefault((method_of(model), mode, fraction), []).append(value)
    rng = np.random.default_rng(seed)
    rows = []
    for (method, mode, fraction), mine in values.items():
        reference = values.get((baseline, mode, fraction))
        if method == baseline or reference is None:
            continue
        a, b = np.asarray(mine), np.asarray(reference)
        gaps = _resampled_means(a, n_resamples, rng) - _resampled_means(b, n_resamples, rng)
        low, high = np.percentile(gaps, [2.5, 97.5])
        rows.append(Estimate(method, mode, fraction, metric, float(a.mean() - b.mean()),
                             float(low), float(high), len(a), baseline=baseline,
                             interval="pretraining seeds"))  # fmt: skip
    return rows


def differences_table(rows: Sequence[Estimate]) -> str:
    """Markdown: one row per (method, mode), one column per label fraction; a difference whose
    interval excludes 0 is marked."""
    fractions = sorted({r.label_fraction for r in rows})
    lines = ["| method − " + rows[0].baseline + " | mode | "
             + " | ".join(f"{f * 100:g} %" for f in fractions) + " |",
             "|---|---|" + "---|" * len(fractions)]  # fmt: skip
    for method, mode in dict.fromkeys((r.model, r.mode) for r in rows):
        cells = {r.label_fraction: r for r in rows if (r.model, r.mode) == (method, mode)}
        lines.append(
            f"| {method} | {mode} | " + " | ".join(_signed(cells[f]) for f in fractions) + " |"
        )
    return "\n".join(lines) + "\n"


def _signed(row: Estimate) -> str:
    text = f"{row.value:+.3f} ({row.ci_low:+.3f} to {row.ci_high:+.3f})"
    return f"**{text}**" if row.excludes_zero else text


def best_encoder(results: SweepResults, metric: str, methods: Mapping[str, object]) -> str:
    """The pretrained encoder with the best mean *validation* score over all its runs (so the
    choice does not look at the test split)."""
    key = f"validation_{metric}"
    scores: dict[str, list[float]] = {}
    for run in results.runs:
        if method_of(run.model) in methods:
            scores.setdefault(run.model, []).append(run.chosen[key])
    return max(scores, key=lambda name: np.mean(scores[name]))
