"""Pretraining as a library: `pretrain(recipe, output_dir, ...)` from Python or a notebook, over a
`Pretrainer` (set up, fit, step, save the model) that the `mocoim-pretrain` command wraps.

    from mocoim_hub.pretraining import pretrain

    result = pretrain("demo", "runs/demo", epochs=2)          # any recipe field as a keyword
    result = pretrain("demo", "runs/mine", data="my_images/")  # a folder, glob or CSV file
    result.model_dir, result.encoder, result.metrics

A run writes to `output_dir`: `recipe.json`, `metrics.jsonl` (and the trackers of `report_to`),
`checkpoint.pt` (atomic, every `checkpoint_every` steps and at the end), `snapshots/` when asked,
and, from `save_model`, the query encoder as a transformers model folder `model/` with its card
and `loss_curves.png`. The run resumes exactly (`resume=True`): shuffling, augmentation and the
RNG state are functions of the seed and the position, so the weights equal an uninterrupted run's.

Failures are exceptions, never exits: `RunExistsError`, `ValueError` (a bad recipe or data),
`NonFiniteLossError`, `PretrainingInterrupted` (after `request_stop()`, checkpointed), `OSError`
(a full disk; the previous checkpoint kept). Signals belong to the caller (the command maps
SIGTERM to `request_stop`).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..data.adapters import ImageDataset, concatenate
from ..data.augment import fixed_size_transform, two_view_transform
from ..data.batch_augment import BatchViews
from ..data.kinds import data_name, open_data, open_dataset
from ..data.loading import CachedSamples, collate_skipping_bad
from ..data.summary import DataSummary, summarize, write_data_record
from ..hub import save_for_hub
from ..image_processing_mocoim import MocoImImageProcessor
from ..manifest import ForeignFilesError, check_ours, claim, unclaimed
from ..modeling_mocoim import MocoImModel
from ..precision import MixedPrecision
from . import distributed
from .build import build_moco, encoder_config, trainable_parameters
from .callbacks import Callback, KnnMonitoring, arrange_callbacks, default_callbacks
from .checkpoint import load_checkpoint, restore_rng_state, rng_state
from .metrics import plot_loss_curves, read_metrics
from .optim import build_optimizer
from .recipe import RESUMABLE_CHANGES, PretrainRecipe
from .schedules import ema_momentum, learning_rate
from .stream import EpochSampler, SeededViews

CACHE_BYTES = 2**30  # with batch_augmentation, train images up to this size stay decoded in memory
PROGRESS = ("loss", "infonce", "intermediate", "lr", "images_per_s")  # beside the progress bar


# What a run writes into its output folder besides checkpoint.pt and model/ (see `claim`).
RUN_FILES = ("recipe.json", "metrics.jsonl", "loss_curves.png", "data.json", "splits.csv")


class PretrainingError(RuntimeError):
    """A pretraining run that cannot start or go on; the message says why and what to do."""


class RunExistsError(PretrainingError, FileExistsError):
    """The output folder holds a run's checkpoint and `resume` was not asked for."""


class NonFiniteLossError(PretrainingError, FloatingPointError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class PretrainingInterrupted(PretrainingError):
    """A stop was requested (`Pretrainer.request_stop`); the step reached is checkpointed."""

    def __init__(self, message: str, step: int, checkpoint: Path):
        super().__init__(message)
        self.step, self.checkpoint = step, checkpoint


@dataclass
class PretrainResult:
    """What a run produced: its folder, the saved model folder (None until `save_model`), the
    trained query encoder (on the CPU), and its last logged metrics."""

    output_dir: Path
    model_dir: Path | None
    recipe: PretrainRecipe
    encoder: MocoImModel
    steps: int
    training_s: float
    metrics: dict[str, float]
    skipped_steps: int  # fp16 steps whose gradients overflowed (skipped by the gradient scaler)


class Pretrainer:
    """One pretraining run of `recipe` into `output_dir`.

    Args:
        recipe: a shipped recipe's name, a JSON path, a `PretrainRecipe` or a dict.
        output_dir: the run's folder.
        data: the images, if not the recipe's dataset: a path (a folder walked recursively, a
            glob or a CSV/TSV file; the same as `data_path=`: read with the recipe's dataset
            kind when it reads a path, else with the kind inferred from it), `{split:
            ImageDataset}`, an `ImageDataset`, a `datasets.Dataset`/`DatasetDict` or a torch
            `Dataset`. A CSV's columns are named with `label_column=` etc.
        resume: continue from `output_dir/checkpoint.pt`.
        callbacks: added to the recipe's (`default_callbacks`); one of a default's class
            replaces that default.
        device: "cuda" when available, else "cpu"; under torchrun, each rank's own GPU.
        force: write into `output_dir` even where it holds files this package did not write
            (they are replaced).
        **overrides: recipe fields, e.g. `epochs=2, lr=0.03`.
    """

    def __init__(
        self,
        recipe: str | Path | PretrainRecipe | dict[str, Any],
        output_dir: str | Path,
        *,
        data: Any = None,
        resume: bool = False,
        callbacks: Sequence[Callback] = (),
        device: str | torch.device | None = None,
        force: bool = False,
        **overrides: Any,
    ):
        if isinstance(data, str | os.PathLike):  # a path is the recipe's data_path
            overrides, data = {**overrides, "data_path": os.fspath(data)}, None
        self.recipe = _with_data(PretrainRecipe.resolve(recipe, **overrides), data)
        self.output_dir = Path(output_dir)
        self.checkpoint_path = self.output_dir / "checkpoint.pt"
        if self.checkpoint_path.exists() and not resume:
            raise RunExistsError(
                f"{self.checkpoint_path} exists: pass --resume (resume=True) to continue that "
                "run, or choose another output folder."
            )
        if resume and not self.checkpoint_path.exists():
            raise FileNotFoundError(f"Asked to resume, but there is no {self.checkpoint_path}.")
        if resume:
            self._check_same_run()
        else:  # a new run never appends to or replaces a log, recipe or plot it did not write
            foreign = unclaimed(self.output_dir, RUN_FILES)
            check_ours(self.output_dir, "a new run", force, foreign)
        check_ours(self.output_dir / "model", "the model", force)  # now, not after training
        self.force = force
        self.data, self.resume = data, resume
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.callbacks = arrange_callbacks(default_callbacks(self.recipe), callbacks)
        self.batch = 0  # micro-batches consumed since the very beginning (resume point)
        self.training_s = 0.0  # seconds spent training (not monitoring or saving) so far
        self._stop_requested = False
        self._ready = False

    def _check_same_run(self) -> None:
        """Before anything is written: a resumed run keeps its own recipe (`recipe.json`); only
        the fields of `RESUMABLE_CHANGES` (more epochs or steps, logging) may differ."""
        saved_file = self.output_dir / "recipe.json"
        if not saved_file.is_file():
            return
        saved, now = PretrainRecipe.load(saved_file).to_dict(), self.recipe.to_dict()
        refused = [name for name, value in now.items()
                   if name not in RESUMABLE_CHANGES and saved.get(name) != value]  # fmt: skip
        if refused:
            differences = ", ".join(
                f"{n} (run: {saved.get(n)!r}, now: {now[n]!r})" for n in refused
            )
            raise ValueError(
                f"Cannot resume {self.output_dir} with another recipe: it differs from the run's "
                f"own ({saved_file}) in {differences}. Resume without --recipe and those flags "
                "(the run's recipe is used; --epochs and --max-steps may be raised), or choose "
                "another output folder."
            )

    # --- set-up ----------------------------------------------------------------------------------

    def setup(self) -> Pretrainer:
        """Join the process group, open the data, build model and optimizer, load the checkpoint
        when resuming. `fit` calls it; call it first to inspect the objects."""
        if self._ready:
            return self
        recipe = self.recipe
        self.world = distributed.setup(self.device.type)
        if self.device.type == "cuda":
            self.device = torch.device("cuda", self.world.local_rank)
        self.precision = MixedPrecision(recipe.precision, self.device)
        if self.world.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            claim(self.output_dir, RUN_FILES)
            (self.output_dir / "recipe.json").write_text(
                json.dumps(recipe.to_dict(), indent=2) + "\n"
            )
            print(json.dumps(recipe.to_dict(), indent=2))
        torch.manual_seed(recipe.seed)

        self._setup_data()
        self.steps_per_epoch = len(self.train_data) // recipe.batch_size // recipe.grad_accumulation
        if self.steps_per_epoch < 1:
            raise ValueError(
                f"{len(self.train_data)} training images make no full optimizer step of "
                f"batch_size {recipe.batch_size} x grad_accumulation {recipe.grad_accumulation}; "
                "lower batch_size (--batch-size) or give more images."
            )
        self.total_steps = recipe.epochs * self.steps_per_epoch
        if recipe.max_steps is not None:
            self.total_steps = min(self.total_steps, recipe.max_steps)

        self.config = encoder_config(recipe, self._card_data())
        self.processor = MocoImImageProcessor.from_model_config(self.config)
        self.moco, self.model = self._build_model()
        self.skipped_images = 0  # images that failed to decode in training (on_bad_image="skip")
        self.optimizer = build_optimizer(
            trainable_parameters(self.moco), recipe.optimizer, recipe.lr, recipe.weight_decay,
            recipe.sgd_momentum,
        )  # fmt: skip
        if self.resume:
            self.load_state_dict(load_checkpoint(self.checkpoint_path))
            self._print(f"resumed from {self.checkpoint_path} at step {self.steps_done}")
        self._ready = True
        return self

    def _setup_data(self) -> None:
        """Open the splits, choose the images pretrained on, say what was read (printed, and
        written to data.json and splits.csv)."""
        recipe = self.recipe
        if self.data is None:
            self.splits = open_dataset(recipe.dataset, recipe.data_path, recipe.table_options,
                                       on_bad_image=recipe.on_bad_image)  # fmt: skip
        else:
            self.splits = open_data(self.data, on_bad_image=recipe.on_bad_image)
        self.pretraining_splits = self._pretraining_splits()
        self.train_data = self._training_view(
            concatenate([self.splits[name] for name in self.pretraining_splits])
        )
        location = recipe.data_path or data_name(recipe.dataset, None)
        self.data_summary = summarize(self.splits, recipe.dataset, location)
        if self.world.is_main:
            print(self.data_summary)
            print(f"pretraining on {len(self.train_data)} images: "
                  f"{' + '.join(self.pretraining_splits)} (pretrain_on={recipe.pretrain_on})")  # fmt: skip
            write_data_record(self.splits, self.data_summary, self.output_dir, split_seed=0,
                              pretraining_splits=self.pretraining_splits,
                              pretraining_images=len(self.train_data))  # fmt: skip

    def _pretraining_splits(self) -> list[str]:
        """The splits pretrained on: every one (`pretrain_on="all"`) but the validation split
        when the kNN monitor scores labels on it, or only "train"."""
        if self.recipe.pretrain_on == "train":
            return ["train"]
        monitored = self.splits["train"].labelled and any(
            isinstance(c, KnnMonitoring) for c in self.callbacks
        )
        return [name for name in self.splits if not (monitored and name == "validation")]

    def _card_data(self) -> dict[str, Any]:
        """What the model card says about the data (the config's `pretraining_data`)."""
        summary: DataSummary = self.data_summary
        return {
            "name": self.recipe.dataset_name
            or data_name(self.recipe.dataset, self.recipe.data_path),
            "location": summary.location,
            "images": summary.total,
            "dicom": summary.dicom,
            "patients": summary.patients,
            "labels": list(summary.labels),
            "skipped": summary.skipped,
            "pretraining_splits": self.pretraining_splits,
            "pretraining_images": len(self.train_data),
        }

    def _training_view(self, train: ImageDataset) -> ImageDataset:
        """The images pretrained on (a new dataset: the caller's keep their transform) with the
        transform the recipe asks for: two augmented views per image, or (batch_augmentation)
        the decoded image, views then drawn per batch."""
        recipe = self.recipe
        self.batch_views = None
        if recipe.batch_augmentation:
            train.transform = fixed_size_transform(recipe.image_size, recipe.num_channels)
            self.batch_views = BatchViews(
                recipe.augmentation, recipe.image_size, recipe.num_channels
            )
            self.batch_views.to(self.device)
        else:
            train.transform = two_view_transform(
                recipe.augmentation, recipe.image_size, recipe.num_channels
            )
        return train

    def _build_model(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        recipe, world = self.recipe, self.world
        if world.enabled and recipe.sync_bn and self.device.type != "cuda":
            raise ValueError(
                "sync_bn needs CUDA (torch's SyncBatchNorm has no CPU kernel); on CPU keep the "
                "default shuffle-BN."
            )
        # a resumed run's weights come from its checkpoint, not from init_from
        moco = build_moco(recipe, self.config, world.world_size, self.device, not self.resume)
        if world.enabled and recipe.sync_bn:
            moco = torch.nn.SyncBatchNorm.convert_sync_batchnorm(moco)
        moco = moco.to(self.device, memory_format=self._memory_format).train()
        if not world.enabled:
            return moco, moco
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return moco, torch.nn.parallel.DistributedDataParallel(moco, device_ids=device_ids)

    @property
    def _memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.recipe.channels_last else torch.contiguous_format

    @property
    def encoder(self) -> MocoImModel:
        """The query encoder being trained (on the training device)."""
        return self.moco.encoder_q

    def encoder_copy(self) -> MocoImModel:
        """A copy of the query encoder on the CPU, to save or keep (training goes on)."""
        return copy.deepcopy(self.encoder).to("cpu", memory_format=torch.contiguous_format)

    @property
    def steps_done(self) -> int:
        return self.batch // self.recipe.grad_accumulation

    # --- state -----------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything an exact resume needs (what `checkpoint.pt` holds)."""
        return {
            "model": self.moco.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "precision": self.precision.state_dict(),
            "batch": self.batch,
            "training_s": self.training_s,
            "skipped_images": self.skipped_images,
            "recipe": self.recipe.to_dict(),
            "rng": rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        changed = sorted(k for k, v in state["recipe"].items() if self.recipe.to_dict().get(k) != v)
        if changed:
            self._print(f"note: resuming with changed recipe fields: {', '.join(changed)}")
        self.moco.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if "precision" in state:  # checkpoints before fp16 support have none
            self.precision.load_state_dict(state["precision"])
        restore_rng_state(state["rng"])
        self.batch, self.training_s = state["batch"], state.get("training_s", 0.0)
        self.skipped_images = state.get("skipped_images", 0)

    def _print(self, text: str) -> None:
        if self.world.is_main:
            print(text)

    def request_stop(self) -> None:
        """Stop after the current step: checkpoint it, then raise `PretrainingInterrupted`.
        Safe to call from a signal handler or another thread."""
        self._stop_requested = True

    # --- training --------------------------------------------------------------------------------

    def step(self, micro_batches: Sequence[dict[str, Any]]) -> dict[str, float]:
        """One optimizer step over `micro_batches` (`grad_accumulation` of them, as the loader
        yields them): forward both views, backward, update; the key encoder takes its EMA step
        on the first micro-batch. Returns the mean of each loss part, `lr`, and `images`."""
        recipe, step = self.recipe, self.steps_done
        lr = learning_rate(
            step, self.total_steps, recipe.lr, recipe.lr_schedule, recipe.warmup_steps
        )
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        momentum = ema_momentum(step, self.total_steps, recipe.momentum, recipe.momentum_schedule)
        sums: dict[str, float] = {}
        images = used = 0
        for batch in micro_batches:
            self.skipped_images += batch.get("skipped", 0)
            if "image" not in batch:  # every image of it failed to decode (on_bad_image="skip")
                continue
            view1, view2 = self._views(batch)
            with self.precision.autocast:
                output = self.model(view1, view2, momentum=momentum, update_keys=used == 0)
            self._check_finite(output, step)
            self.precision.backward(output.loss / recipe.grad_accumulation)
            parts = {"loss": output.loss, "infonce": output.infonce,
                     "intermediate": output.intermediate, **output.per_layer}  # fmt: skip
            for name, value in parts.items():
                sums[name] = sums.get(name, 0.0) + value.item()
            images, used = images + len(view1), used + 1
        if used:
            self.precision.step(self.optimizer)
        self.optimizer.zero_grad(set_to_none=True)
        self.batch += len(micro_batches)
        return {**{name: total / used for name, total in sums.items()}, "lr": lr, "images": images}

    def _views(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        if self.batch_views is None:
            views = batch["image"]
        else:
            views = self.batch_views(
                batch["image"].to(self.device, non_blocking=True), batch["seed"]
            )
        return tuple(
            v.to(self.device, non_blocking=True, memory_format=self._memory_format) for v in views
        )

    def _check_finite(self, output, step: int) -> None:
        loss = distributed.mean_over_ranks(output.loss.item(), self.world, self.device)
        if not math.isfinite(loss):
            raise NonFiniteLossError(
                f"Stopped: the loss became non-finite at step {step} (InfoNCE "
                f"{output.infonce.item():.4g}, intermediate {output.intermediate.item():.4g}). "
                f"The last good checkpoint is {self.checkpoint_path}; lower the lr or the "
                "intermediate weights, then --resume (resume=True)."
            )

    def fit(self) -> PretrainResult:
        """Train from where the run stands to `total_steps`, calling the callbacks between
        steps. Raises `PretrainingInterrupted` (checkpointed) if a stop was requested."""
        self.setup()
        try:
            for callback in self.callbacks:
                callback.on_train_start(self)
            stopped = self._train()
        except BaseException:
            self._end("failed")
            raise
        self._end("interrupted" if stopped else "completed")
        if stopped:
            raise PretrainingInterrupted(
                f"Stopped after step {self.steps_done} as asked; {self.checkpoint_path} holds it. "
                "Continue with --resume (resume=True).",
                self.steps_done, self.checkpoint_path,
            )  # fmt: skip
        if self.world.enabled:
            torch.distributed.destroy_process_group()
        return self.result()

    def _train(self) -> bool:
        """The loop; True when it ended early because a stop was requested."""
        recipe = self.recipe
        progress = tqdm(total=self.total_steps, initial=self.steps_done, unit="step",
                        disable=not self.world.is_main)  # fmt: skip
        if self.batch == 0:
            self._end_step(0, {})  # monitors record the initialisation
        window = _Window()
        clock = time.perf_counter()  # training time so far: trained_before + now - clock
        trained_before = self.training_s
        try:
            for micro_batches in self._micro_batches():
                window.add(self.step(micro_batches))
                progress.update(1)
                done = self.steps_done
                metrics = {}
                if done % recipe.log_every == 0 or done == self.total_steps:
                    metrics = window.metrics(self.world, self.device)
                    if self.precision.scaler.is_enabled():  # fp16: overflowed steps so far
                        metrics["skipped_steps"] = self.precision.skipped_steps
                    if self.recipe.on_bad_image == "skip":  # unreadable images met so far
                        metrics["skipped_images"] = self.world.world_size * (
                            distributed.mean_over_ranks(
                                self.skipped_images, self.world, self.device
                            )
                        )
                    progress.set_postfix({k: f"{metrics[k]:.3g}" for k in PROGRESS if k in metrics})
                    window = _Window()
                self.training_s = trained_before + time.perf_counter() - clock
                began = time.perf_counter()
                self._end_step(done, metrics)
                paused = time.perf_counter() - began  # monitoring and saving are not training
                clock += paused
                window.started += paused
                if distributed.mean_over_ranks(
                    float(self._stop_requested), self.world, self.device
                ):
                    return True
        finally:
            progress.close()
        return False

    def _micro_batches(self) -> Iterator[list[dict[str, Any]]]:
        """The remaining optimizer steps' micro-batches, `grad_accumulation` at a time."""
        recipe = self.recipe
        total_batches = self.total_steps * recipe.grad_accumulation
        sampler = EpochSampler(
            len(self.train_data), recipe.batch_size, total_batches, recipe.seed, self.batch,
            self.world.rank, self.world.world_size,
        )  # fmt: skip
        decoded_bytes = len(self.train_data) * recipe.num_channels * recipe.image_size**2 * 4
        cache = self.batch_views is not None and decoded_bytes <= CACHE_BYTES
        loader = DataLoader(
            SeededViews(CachedSamples(self.train_data) if cache else self.train_data, recipe.seed),
            batch_size=sampler.local_batch,
            sampler=sampler,
            num_workers=recipe.num_workers,
            collate_fn=collate_skipping_bad,
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(recipe.seed),  # leaves the training RNG alone
        )
        group: list[dict[str, Any]] = []
        for batch in loader:
            group.append(batch)
            if len(group) == recipe.grad_accumulation:
                yield group
                group = []

    def _end_step(self, step: int, metrics: dict[str, float]) -> None:
        for callback in self.callbacks:
            callback.on_step_end(self, step, metrics)

    def _end(self, outcome: str) -> None:
        for callback in self.callbacks:
            callback.on_train_end(self, outcome)

    def result(self) -> PretrainResult:
        logged = self.output_dir / "metrics.jsonl"
        records = read_metrics(logged) if logged.exists() else []
        return PretrainResult(
            output_dir=self.output_dir,
            model_dir=None,
            recipe=self.recipe,
            encoder=self.encoder_copy(),
            steps=self.steps_done,
            training_s=self.training_s,
            metrics=records[-1] if records else {},
            skipped_steps=self.precision.skipped_steps,
        )

    # --- saving ----------------------------------------------------------------------------------

    def save_model(self, folder: str | Path | None = None, repo_id: str | None = None) -> Path:
        """The query encoder as a transformers model folder (default `output_dir/model`) with
        its processor, loss curves and model card (titled `repo_id`); written by rank 0 only."""
        self.setup()
        folder = Path(folder) if folder is not None else self.output_dir / "model"
        if not self.world.is_main:
            return folder
        metrics, loss_curve = self.output_dir / "metrics.jsonl", self.output_dir / "loss_curves.png"
        if metrics.exists():
            title = (
                f"{self.recipe.name}: MoCo v2 + {self.recipe.intermediate_loss} intermediate loss"
            )
            plot_loss_curves(metrics, loss_curve, title)
        encoder = self.encoder_copy()
        encoder.config.pretraining_data = {
            **(encoder.config.pretraining_data or {}),
            "unreadable_in_training": self.skipped_images,
        }
        try:
            return save_for_hub(
                encoder, self.processor, folder, repo_id or f"your-org/{self.output_dir.name}",
                loss_curve=loss_curve, force=self.force,
            )  # fmt: skip
        except ForeignFilesError:
            raise
        except OSError as error:
            raise OSError(
                error.errno,
                f"Could not save the model to {folder} ({error}). The trained weights are in "
                f"{self.checkpoint_path}: free space, then --resume (resume=True) to save without "
                "training further.",
            ) from error


def pretrain(
    recipe: str | Path | PretrainRecipe | dict[str, Any],
    output_dir: str | Path,
    *,
    data: Any = None,
    resume: bool = False,
    callbacks: Sequence[Callback] = (),
    device: str | torch.device | None = None,
    repo_id: str | None = None,
    **overrides: Any,
) -> PretrainResult:
    """Pretrain a MoCo-IM encoder and save it with its model card (see `Pretrainer` for the
    arguments; `repo_id` titles the card). Returns what the run produced."""
    trainer = Pretrainer(recipe, output_dir, data=data, resume=resume, callbacks=callbacks,
                         device=device, **overrides)  # fmt: skip
    result = trainer.fit()
    return dataclasses.replace(result, model_dir=trainer.save_model(repo_id=repo_id))


class _Window:
    """Loss parts averaged over the images since the last log, and the images per second."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.images = 0
        self.lr = 0.0
        self.started = time.perf_counter()

    def add(self, step: dict[str, float]) -> None:
        for name, value in step.items():
            if name not in ("lr", "images"):
                self.sums[name] = self.sums.get(name, 0.0) + value * step["images"]
        self.images += step["images"]
        self.lr = step["lr"]

    def metrics(self, world: distributed.Distributed, device: torch.device) -> dict[str, float]:
        means = {
            name: distributed.mean_over_ranks(total / self.images, world, device)
            for name, total in self.sums.items()
        }
        seconds = time.perf_counter() - self.started
        return {**means, "lr": self.lr, "images_per_s": self.images * world.world_size / seconds}


def _with_data(recipe: PretrainRecipe, data: Any) -> PretrainRecipe:
    """The recipe noting that its images were given from Python as objects (`data`)."""
    if data is None:
        return recipe
    return dataclasses.replace(recipe, dataset="python", data_path=None)
