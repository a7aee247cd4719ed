"""What runs between pretraining steps: monitors, snapshots, the metrics log, checkpoints.

A `Pretrainer` calls its callbacks in ascending `order` (ties in the order given):

- `on_train_start(trainer)` once the run is set up (resumed or not);
- `on_step_end(trainer, step, metrics)` after every optimizer step, and once with `step=0`
  before the first step of a new run (monitors record the initialisation). `metrics` holds
  the step's averaged losses, `lr` and `images_per_s` at logging steps and is empty otherwise;
  a callback adds to it what it measured, and the `MetricsLogger` (order 100) writes it;
- `on_train_end(trainer, outcome)` when the loop ends: `"completed"`, `"interrupted"` (a stop
  was requested; the checkpointer saves the step) or `"failed"` (an exception is on its way).

`default_callbacks(recipe)` are what a recipe asks for; a callback passed to `pretrain` that is an
instance of a default's class replaces it, any other one is added.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from ..data.adapters import ImageDataset
from ..image_processing_mocoim import MocoImImageProcessor
from ..modeling_mocoim import MocoImModel
from ..precision import MixedPrecision
from .checkpoint import save_checkpoint
from .distributed import Distributed
from .metrics import MetricsLog
from .monitor import KnnMonitor
from .recipe import PretrainRecipe
from .trackers import Tracker, open_trackers


class TrainingRun(Protocol):
    """What a callback may read and ask of the run it is called by (a `Pretrainer`)."""

    recipe: PretrainRecipe
    output_dir: Path
    checkpoint_path: Path
    world: Distributed
    splits: dict[str, ImageDataset]
    processor: MocoImImageProcessor
    precision: MixedPrecision
    steps_per_epoch: int
    total_steps: int
    batch: int  # micro-batches consumed since the very beginning
    training_s: float  # seconds spent training so far, as of the step's end

    @property
    def encoder(self) -> MocoImModel: ...

    def encoder_copy(self) -> MocoImModel: ...

    def state_dict(self) -> dict[str, Any]: ...

    def request_stop(self) -> None: ...


class Callback:
    """Does nothing; subclasses override the hooks they need."""

    order = 0

    def on_train_start(self, trainer: TrainingRun) -> None:
        pass

    def on_step_end(self, trainer: TrainingRun, step: int, metrics: dict[str, float]) -> None:
        pass

    def on_train_end(self, trainer: TrainingRun, outcome: str) -> None:
        pass


class KnnMonitoring(Callback):
    """Every `every` steps and after the last, the monitor's figures for the query encoder
    (`mocoim_hub.pretraining.monitor`): `embedding_rank` of a bank of `bank_size` train images
    always, and with labels and a validation split `knn_top1` (single-label) or `knn_auroc`
    (multi-label) of `query_size` validation images."""

    def __init__(self, every: int, bank_size: int = 2000, query_size: int = 500):
        if every < 1:
            raise ValueError(f"KnnMonitoring needs every >= 1 step, got {every}.")
        self.every, self.bank_size, self.query_size = every, bank_size, query_size
        self.monitor: KnnMonitor | None = None

    def on_train_start(self, trainer: TrainingRun) -> None:
        if not trainer.world.is_main:
            return
        train, validation = trainer.splits["train"], trainer.splits.get("validation")
        if train.labelled and validation is None:
            print(f"note: the kNN scores need a validation split and this data has only "
                  f"{', '.join(trainer.splits)}: the monitor logs embedding_rank alone")  # fmt: skip
        self.monitor = KnnMonitor.from_splits(
            train, validation, trainer.processor, self.bank_size, self.query_size,
            seed=trainer.recipe.seed,
        )  # fmt: skip

    def on_step_end(self, trainer: TrainingRun, step: int, metrics: dict[str, float]) -> None:
        if self.monitor is not None and (step % self.every == 0 or step == trainer.total_steps):
            with trainer.precision.autocast:
                metrics.update(self.monitor.measure(trainer.encoder))


class Snapshots(Callback):
    """The query encoder saved as a model folder `snapshots/step-NNNNNN` every `every` steps,
    with `snapshot.json` (step, epoch, training seconds) for learning curves; also at step 0
    when the run starts from `init_from` weights (the point the curve starts from)."""

    order = 50

    def __init__(self, every: int):
        if every < 1:
            raise ValueError(f"Snapshots needs every >= 1 step, got {every}.")
        self.every = every

    def on_step_end(self, trainer: TrainingRun, step: int, metrics: dict[str, float]) -> None:
        start = step == 0 and trainer.recipe.init_from is not None
        due = step > 0 and step % self.every == 0
        if not trainer.world.is_main or not (start or due):
            return
        folder = trainer.output_dir / "snapshots" / f"step-{step:06d}"
        trainer.encoder_copy().save_pretrained(folder)
        trainer.processor.save_pretrained(folder)
        record = {
            "step": step,
            "epoch": round(step / trainer.steps_per_epoch, 3),
            "training_s": round(trainer.training_s, 1),
        }
        (folder / "snapshot.json").write_text(json.dumps(record) + "\n")


class MetricsLogger(Callback):
    """Each step's non-empty `metrics`, with the training seconds so far, appended to
    `metrics.jsonl` and reported to the trackers named in `report_to`."""

    order = 100

    def __init__(self, report_to: Sequence[str] = ("tensorboard",)):
        self.report_to = list(report_to)
        self.log: MetricsLog | None = None
        self.trackers: list[Tracker] = []

    def on_train_start(self, trainer: TrainingRun) -> None:
        if trainer.world.is_main:
            self.log = MetricsLog(trainer.output_dir)
            name = trainer.output_dir.resolve().name
            config = trainer.recipe.to_dict()
            self.trackers = open_trackers(self.report_to, trainer.output_dir, name, config)

    def on_step_end(self, trainer: TrainingRun, step: int, metrics: dict[str, float]) -> None:
        if self.log is None or not metrics:
            return
        record = {**metrics, "training_s": round(trainer.training_s, 2)}
        self.log.log(step, record)
        for tracker in self.trackers:
            tracker.log(step, record)

    def on_train_end(self, trainer: TrainingRun, outcome: str) -> None:
        for tracker in self.trackers:
            tracker.close()
        self.trackers, self.log = [], None


class Checkpointer(Callback):
    """`trainer.checkpoint_path` written atomically every `every` steps, after the last step,
    and when a stop is requested; `--resume` continues from it to the same weights."""

    order = 200

    def __init__(self, every: int):
        if every < 1:
            raise ValueError(f"Checkpointer needs every >= 1 step, got {every}.")
        self.every = every
        self.saved_batch: int | None = None

    def on_train_start(self, trainer: TrainingRun) -> None:
        self.saved_batch = trainer.batch if trainer.batch else None  # resumed: that one is saved

    def on_step_end(self, trainer: TrainingRun, step: int, metrics: dict[str, float]) -> None:
        if step > 0 and step % self.every == 0:
            self.save(trainer)

    def on_train_end(self, trainer: TrainingRun, outcome: str) -> None:
        if outcome != "failed" and self.saved_batch != trainer.batch:
            self.save(trainer)

    def save(self, trainer: TrainingRun) -> None:
        if trainer.world.is_main:
            save_checkpoint(trainer.state_dict(), trainer.checkpoint_path)
        self.saved_batch = trainer.batch


class TimeLimit(Callback):
    """Ask the run to stop (checkpointed, `PretrainingInterrupted`) once `seconds` of wall time
    have passed since it started: for a session or a job with a time limit."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.deadline = 0.0

    def on_train_start(self, trainer: TrainingRun) -> None:
        self.deadline = time.monotonic() + self.seconds

    def on_step_end(self, trainer: TrainingRun, step: int, metrics: dict[str, float]) -> None:
        if time.monotonic() >= self.deadline:
            trainer.request_stop()


def default_callbacks(recipe: PretrainRecipe) -> list[Callback]:
    """The kNN monitor and snapshots when the recipe asks for them, the metrics log, checkpoints."""
    callbacks: list[Callback] = []
    if recipe.knn_every > 0:
        callbacks.append(KnnMonitoring(recipe.knn_every))
    if recipe.snapshot_every > 0:
        callbacks.append(Snapshots(recipe.snapshot_every))
    return [*callbacks, MetricsLogger(recipe.report_to), Checkpointer(recipe.checkpoint_every)]


def arrange_callbacks(defaults: Sequence[Callback], extra: Sequence[Callback]) -> list[Callback]:
    """`defaults` with each of `extra` replacing the default of its class or added, by order."""
    callbacks = list(defaults)
    for callback in extra:
        same = [i for i, d in enumerate(callbacks) if isinstance(callback, type(d))]
        if same:
            callbacks[same[0]] = callback
        else:
            callbacks.append(callback)
    return sorted(callbacks, key=lambda callback: callback.order)
