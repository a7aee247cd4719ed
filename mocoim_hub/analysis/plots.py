"""Figures of the analyses: CKA heatmaps and layer-wise probing curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..results import Estimate


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_cka(
    matrix: np.ndarray, rows: Sequence[str], columns: Sequence[str], title: str, path: str | Path,
    row_label: str = "model A", column_label: str = "model B",
) -> None:  # fmt: skip
    """A layer × layer CKA heatmap with the values written in the cells."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(1.1 * len(columns) + 2, 1.0 * len(rows) + 1.5))
    image = axis.imshow(matrix, vmin=0, vmax=1, cmap="magma")
    axis.set_xticks(range(len(columns)), columns, rotation=45, ha="right")
    axis.set_yticks(range(len(rows)), rows)
    axis.set_xlabel(column_label)
    axis.set_ylabel(row_label)
    for (i, j), value in np.ndenumerate(matrix):
        axis.text(
            j,
            i,
            f"{value:.2f}",
            ha="center",
            va="center",
            color="white" if value < 0.6 else "black",
            fontsize=8,
        )
    axis.set_title(title, fontsize=9)
    figure.colorbar(image, ax=axis, fraction=0.046)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_probing(results: Sequence[Estimate], path: str | Path) -> None:
    """Probe score per layer, one line per (model, label fraction), bootstrap intervals as bars."""
    plt = _pyplot()
    layers = list(dict.fromkeys(r.layer for r in results))
    figure, axis = plt.subplots(figsize=(7, 4.5))
    models = list(dict.fromkeys(r.model for r in results))
    fractions = sorted({r.label_fraction for r in results})
    for model, fraction in dict.fromkeys((r.model, r.label_fraction) for r in results):
        mine = {r.layer: r for r in results if (r.model, r.label_fraction) == (model, fraction)}
        style = {
            "color": f"C{models.index(model)}",
            "linestyle": ("-", "--", ":", "-.")[fractions.index(fraction) % 4],
        }
        values = np.array([mine[layer].value for layer in layers])
        errors = np.array([[values[i] - mine[layer].ci_low, mine[layer].ci_high - values[i]]
                           for i, layer in enumerate(layers)]).T  # fmt: skip
        axis.errorbar(range(len(layers)), values, yerr=errors, marker="o", capsize=3, **style,
                      label=f"{model}, {fraction * 100:g} % labels")  # fmt: skip
    axis.set_xticks(range(len(layers)), layers)
    axis.set_ylabel(f"test {results[0].metric} of a linear probe")
    axis.set_title("Layer-wise probing of frozen encoders", fontsize=9)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
