"""Sweep results as people read them: a markdown table, JSON, a plot of metric vs label fraction,
and the rows a model card's evaluation section shows."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from ..results import Estimate, percent
from .metrics import PRIMARY_METRIC
from .sweep import SweepResults

# Metrics shown in tables and cards (per-label AUROCs stay in the JSON).
HEADLINE = {
    "multi-label": ("mean_auroc",),
    "binary": ("auroc", "macro_f1", "accuracy"),
    "multi-class": ("accuracy", "macro_f1", "quadratic_kappa"),
}


def headline_metrics(results: SweepResults) -> list[str]:
    present = {row.metric for row in results.summary}
    return [m for m in HEADLINE[results.task] if m in present]


def markdown_table(results: SweepResults) -> str:
    """One row per (model, mode, label fraction); each metric as mean over seeds (95 % CI)."""
    metrics = headline_metrics(results)
    header = ["model", "mode", "labels", "seeds", *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    keys = dict.fromkeys((r.model, r.mode, r.label_fraction) for r in results.summary)
    for model, mode, fraction in keys:
        cells = [results.value(model, mode, fraction, m) for m in metrics]
        lines.append("| " + " | ".join([model, mode, percent(fraction), str(cells[0].seeds)]
                     + [f"{c.value:.3f} ({c.ci_low:.3f}–{c.ci_high:.3f})" for c in cells]) + " |")  # fmt: skip
    return "\n".join(lines) + "\n"


RESULT_FILES = {"json": "results.json", "markdown": "results.md", "plot": "results.png"}


def write_results(results: SweepResults, output_dir: str | Path) -> dict[str, Path]:
    """`results.json`, `results.md` and `results.png` in `output_dir`."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: output_dir / name for kind, name in RESULT_FILES.items()}
    paths["json"].write_text(json.dumps(results.to_dict(), indent=2) + "\n")
    intro = (f"Few-label evaluation on {results.dataset} ({results.task}), test split: mean over "
             f"seeds with a 95 % percentile-bootstrap interval over the {results.interval}.\n\n")  # fmt: skip
    paths["markdown"].write_text(intro + markdown_table(results))
    plot_results(results, paths["plot"])
    return paths


def read_results(path: str | Path) -> SweepResults:
    """A `results.json` written by `write_results`, with a clear error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No results file at {path}; `mocoim-finetune --output-dir DIR` "
                                "writes DIR/results.json.")  # fmt: skip
    try:
        return SweepResults.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError, KeyError) as error:  # JSONDecodeError is a ValueError
        raise ValueError(f"{path} is not a results.json written by mocoim-finetune ({error}); "
                         "point to the results.json of a mocoim-finetune run.") from error  # fmt: skip


def with_reference(results: SweepResults, reference: SweepResults, label: str) -> SweepResults:
    """`results` followed by `reference`'s summary rows of the same modes, each model named
    `model (label)`: one table that compares a run with one measured earlier on the same data."""
    if (reference.task, reference.dataset) != (results.task, results.dataset):
        raise ValueError(f"The reference {label} was measured on {reference.dataset} "
                         f"({reference.task}), this run on {results.dataset} ({results.task}); "
                         "compare runs on the same dataset.")  # fmt: skip
    modes = {row.mode for row in results.summary}
    rows = [replace(row, model=f"{row.model} ({label})")
            for row in reference.summary if row.mode in modes]  # fmt: skip
    return replace(results, summary=results.summary + rows)


def plot_results(results: SweepResults, path: str | Path) -> None:
    """The primary metric against the label fraction (log scale), one line per model, one panel
    per mode, with the bootstrap intervals as bands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = PRIMARY_METRIC[results.task]
    modes = list(dict.fromkeys(r.mode for r in results.summary))
    figure, axes = plt.subplots(1, len(modes), figsize=(5 * len(modes), 4), squeeze=False)
    for axis, mode in zip(axes[0], modes, strict=True):
        rows = [r for r in results.summary if r.mode == mode and r.metric == metric]
        for model in dict.fromkeys(r.model for r in rows):
            mine = sorted((r for r in rows if r.model == model), key=lambda r: r.label_fraction)
            x = [r.label_fraction * 100 for r in mine]
            axis.plot(x, [r.value for r in mine], marker="o", label=model)
            axis.fill_between(x, [r.ci_low for r in mine], [r.ci_high for r in mine], alpha=0.2)
        axis.set_xscale("log")
        fractions = sorted({r.label_fraction * 100 for r in rows})
        axis.set_xticks(fractions, [f"{f:g} %" for f in fractions])
        axis.set_xlabel("labelled training images")
        axis.set_ylabel(f"test {metric}")
        axis.set_title({"linear": "linear probe", "full": "full fine-tuning"}[mode], fontsize=10)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(results.dataset, fontsize=8, wrap=True)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def card_evaluations(results: SweepResults, model: str) -> list[Estimate]:
    """The rows of `model` that its model card shows."""
    metrics = headline_metrics(results)
    return [
        replace(r, dataset=results.dataset, interval=results.interval)
        for r in results.summary
        if r.model == model and r.metric in metrics
    ]


def baseline_evaluations(results: SweepResults, model: str) -> list[Estimate]:
    """The card rows of every other encoder measured beside `model` (random init, plain MoCo...)."""
    others = dict.fromkeys(run.model for run in results.runs if run.model != model)
    return [row for name in others for row in card_evaluations(results, name)]


def measured_rows(path: str | Path) -> tuple[list[Estimate], str, list[Estimate]]:
    """What a card of a recipe's model shows from a `results.json` measured on a run of the
    recipe: the first model's rows, where they were measured, and the other encoders' rows."""
    path = Path(path)
    results = read_results(path)
    model = results.runs[0].model
    file = f"{path.parent.name}/{path.name}"  # not the whole path: a card names no machine path
    where = f"by `mocoim-finetune` on a run of this recipe (`{model}` in `{file}`)"
    return card_evaluations(results, model), where, baseline_evaluations(results, model)
