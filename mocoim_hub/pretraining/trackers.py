"""Experiment trackers a run reports its metrics to (`report_to`): TensorBoard, Weights & Biases,
MLflow. `metrics.jsonl` stays the record; trackers are for watching and comparing runs.

Each tracker writes where its library is told to: TensorBoard to `OUTPUT_DIR/tensorboard`;
W&B as `WANDB_MODE` / `wandb login` say (`WANDB_MODE=offline` keeps it in `OUTPUT_DIR/wandb`);
MLflow to `MLFLOW_TRACKING_URI`, by default a SQLite store `OUTPUT_DIR/mlflow.db` (`mlflow ui
--backend-store-uri sqlite:///OUTPUT_DIR/mlflow.db` shows it). A resumed run
continues the same W&B and MLflow runs (their ids are kept in `OUTPUT_DIR/trackers.json`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

from ..extras import require

TRACKERS = ("tensorboard", "wandb", "mlflow")
RUN_IDS_FILE = "trackers.json"


class Tracker(Protocol):
    def log(self, step: int, metrics: dict[str, float]) -> None: ...

    def close(self) -> None: ...


class TensorBoard:
    def __init__(self, output_dir: Path, run_name: str, config: dict[str, Any]):
        require("report_to tensorboard", "tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(output_dir / "tensorboard"))

    def log(self, step: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            self.writer.add_scalar(name, value, step)

    def close(self) -> None:
        self.writer.close()


class WandB:
    def __init__(self, output_dir: Path, run_name: str, config: dict[str, Any]):
        require("report_to wandb", "wandb")
        import wandb

        ids = _RunIds(output_dir)
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "mocoim"),
            name=run_name,
            id=ids.get("wandb"),  # None: a new run; else the run this one continues
            resume="allow",
            dir=str(output_dir),
            config=config,
        )
        ids.set("wandb", self.run.id)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self.run.log(metrics, step=step)

    def close(self) -> None:
        self.run.finish()


class MLflow:
    def __init__(self, output_dir: Path, run_name: str, config: dict[str, Any]):
        require("report_to mlflow", "mlflow")
        import mlflow

        if "MLFLOW_TRACKING_URI" not in os.environ:
            mlflow.set_tracking_uri(f"sqlite:///{(output_dir / 'mlflow.db').resolve()}")
        mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME", "mocoim"))
        ids = _RunIds(output_dir)
        run_id = ids.get("mlflow")
        self.mlflow = mlflow
        self.run = mlflow.start_run(run_id=run_id, run_name=None if run_id else run_name)
        if run_id is None:  # parameters are immutable: logged once, by the run that starts it
            mlflow.log_params({key: json.dumps(value) for key, value in config.items()})
        ids.set("mlflow", self.run.info.run_id)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self.mlflow.log_metrics(metrics, step=step)

    def close(self) -> None:
        self.mlflow.end_run()


_CLASSES = {"tensorboard": TensorBoard, "wandb": WandB, "mlflow": MLflow}


def open_trackers(
    names: list[str], output_dir: str | Path, run_name: str, config: dict[str, Any]
) -> list[Tracker]:
    """The trackers named in `names` (see `TRACKERS`), started for this run."""
    unknown = [name for name in names if name not in _CLASSES]
    if unknown:
        raise ValueError(f"Unknown tracker(s) {unknown}; expected some of {', '.join(TRACKERS)}.")
    return [_CLASSES[name](Path(output_dir), run_name, config) for name in names]


class _RunIds:
    """Tracker run ids kept in the output folder, so that a resumed run reports to the same run."""

    def __init__(self, output_dir: Path):
        self.path = output_dir / RUN_IDS_FILE

    def get(self, tracker: str) -> str | None:
        return json.loads(self.path.read_text()).get(tracker) if self.path.exists() else None

    def set(self, tracker: str, run_id: str) -> None:
        ids = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.path.write_text(json.dumps({**ids, tracker: run_id}) + "\n")
