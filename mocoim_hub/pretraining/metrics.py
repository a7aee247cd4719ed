"""Training metrics: JSON lines (the record) and a PNG of the loss curves (to look at)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class MetricsLog:
    """Appends `{"step": ..., **metrics}` lines to `OUTPUT_DIR/metrics.jsonl`; on resume it keeps
    appending (a record cut short by a kill is closed with a newline first)."""

    def __init__(self, output_dir: str | Path):
        self.path = Path(output_dir) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and self.path.stat().st_size:
            with open(self.path, "rb+") as handle:
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    handle.write(b"\n")

    def log(self, step: int, metrics: dict[str, float]) -> None:
        with open(self.path, "a") as handle:
            handle.write(json.dumps({"step": step, **metrics}) + "\n")


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a `metrics.jsonl`, keeping the last one of each step (a resumed run may
    have logged a step twice; a record cut short by a kill is skipped)."""
    by_step = {}
    for line in Path(path).read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        by_step[record["step"]] = record
    return [by_step[step] for step in sorted(by_step)]


def plot_loss_curves(metrics_path: str | Path, output: str | Path, title: str = "") -> Path:
    """Total, InfoNCE and intermediate loss, the per-layer parts and, when the run had the
    monitor, its kNN score and embedding rank, each against the optimizer step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(metrics_path)
    names = sorted({name for record in records for name in record})
    panels = [
        (["loss", "infonce", "intermediate"], title or "pretraining loss", "loss"),
        ([n for n in names if n.startswith("layer")], "intermediate loss per layer (unweighted)",
         ""),
        (["knn_top1", "knn_auroc"], "kNN monitor, validation split", "top-1 accuracy / mean AUROC"),
        (["embedding_rank"], "embedding rank (RankMe; near 1: collapse)", "effective rank"),
    ]  # fmt: skip
    panels = [p for p in panels if any(n in names for n in p[0])]
    figure, axes_row = plt.subplots(
        1, len(panels), figsize=(5.5 * len(panels), 4), constrained_layout=True, squeeze=False
    )
    for axes, (curves, panel_title, ylabel) in zip(axes_row[0], panels, strict=True):
        for name in curves:
            points = [(r["step"], r[name]) for r in records if name in r]
            if points:
                axes.plot(
                    *zip(*points, strict=False),
                    label=name,
                    marker="o" if len(points) < 30 else None,
                )
        axes.set(xlabel="optimizer step", ylabel=ylabel, title=panel_title)
        axes.legend()
        axes.grid(alpha=0.3)
    figure.savefig(output, dpi=120)
    plt.close(figure)
    return Path(output)
