r"""Pretrain a MoCo-IM encoder: MoCo v2 plus an intermediate-layer loss (Kaku et al., NeurIPS 2021).

    mocoim-pretrain --recipe demo --output-dir runs/demo
    mocoim-pretrain --recipe paper-nih --data-path /data/NIH --output-dir runs/nih
    mocoim-pretrain --recipe demo --output-dir runs/demo --resume   # after a crash
    torchrun --nproc_per_node 8 -m mocoim_hub.commands.pretrain --recipe mocov2-nih \
        --data-path /data/NIH --output-dir runs/nih-ddp      # or: accelerate launch --multi_gpu

Any recipe field can be overridden (`--lr 0.03 --intermediate-loss mse`); `batch_size` is the
global batch. Across processes the key batch is shuffled across ranks (shuffle-BN) unless
`--sync-bn`, and Barlow-Twins sees the global batch. The run writes `checkpoint.pt` (atomic;
every `checkpoint_every` steps and at the end), `metrics.jsonl`, `tensorboard/`,
`loss_curves.png`, `recipe.json`, encoder snapshots in `snapshots/` (`--snapshot-every`), and the
query encoder as a transformers model folder with its model card in `model/`; `--push-to-hub
--hub-model-id org/name` then uploads that folder (a failed upload keeps it and prints the
command to retry).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .. import MocoImImageProcessor
from ..data.augment import fixed_size_transform, two_view_transform
from ..data.batch_augment import BatchViews
from ..data.kinds import open_dataset
from ..data.loading import CachedSamples, collate_skipping_bad
from ..hub import add_hub_arguments, check_hub_arguments, publish, save_for_hub
from ..pretraining import distributed
from ..pretraining.build import build_moco, encoder_config, trainable_parameters
from ..pretraining.checkpoint import (
    load_checkpoint,
    restore_rng_state,
    rng_state,
    save_checkpoint,
)
from ..pretraining.metrics import MetricsLog, plot_loss_curves
from ..pretraining.monitor import KnnMonitor
from ..pretraining.optim import build_optimizer
from ..pretraining.recipe import (
    PretrainRecipe,
    add_recipe_arguments,
    recipe_from_arguments,
    shipped_recipes,
)
from ..pretraining.schedules import ema_momentum, learning_rate
from ..pretraining.stream import EpochSampler, SeededViews

CACHE_BYTES = 2**30  # with batch_augmentation, train images up to this size stay decoded in memory


def main(argv: Sequence[str] | None = None) -> None:
    # --- arguments and recipe ---------------------------------------------------------------------
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--recipe",
        default="demo",
        help=f"a shipped recipe ({', '.join(shipped_recipes())}) or a JSON path",
    )
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument(
        "--resume", action="store_true", help="continue from OUTPUT_DIR/checkpoint.pt"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    add_hub_arguments(parser)
    add_recipe_arguments(parser)
    args = parser.parse_args(argv)
    check_hub_arguments(args)
    try:
        recipe = recipe_from_arguments(PretrainRecipe.load(args.recipe), args)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    output_dir, checkpoint_path = args.output_dir, args.output_dir / "checkpoint.pt"
    if checkpoint_path.exists() and not args.resume:
        sys.exit(
            f"{checkpoint_path} exists: pass --resume to continue that run, or choose another "
            "--output-dir."
        )
    if args.resume and not checkpoint_path.exists():
        sys.exit(f"--resume given but there is no {checkpoint_path}.")

    # --- seed and distributed ---------------------------------------------------------------------
    device = torch.device(args.device)
    world = distributed.setup(device.type)
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
    if world.is_main:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "recipe.json").write_text(json.dumps(recipe.to_dict(), indent=2) + "\n")
        print(json.dumps(recipe.to_dict(), indent=2))
    torch.manual_seed(recipe.seed)

    # --- data -------------------------------------------------------------------------------------
    splits = open_dataset(recipe.dataset, recipe.data_path)
    train = splits["train"]
    batch_views = None
    if recipe.batch_augmentation:  # the loader only decodes; views are made on the device
        train.transform = fixed_size_transform(recipe.image_size, recipe.num_channels)
        batch_views = BatchViews(recipe.augmentation, recipe.image_size, recipe.num_channels)
        batch_views.to(device)
    else:
        train.transform = two_view_transform(
            recipe.augmentation, recipe.image_size, recipe.num_channels
        )
    steps_per_epoch = len(train) // recipe.batch_size // recipe.grad_accumulation
    total_batches = recipe.epochs * (len(train) // recipe.batch_size)
    if recipe.max_steps is not None:
        total_batches = min(total_batches, recipe.max_steps * recipe.grad_accumulation)
    total_steps = total_batches // recipe.grad_accumulation

    # --- model and loss ---------------------------------------------------------------------------
    config = encoder_config(recipe)
    if world.enabled and recipe.sync_bn and device.type != "cuda":
        sys.exit("--sync-bn needs CUDA (torch's SyncBatchNorm has no CPU kernel); on CPU keep "
                 "the default shuffle-BN.")  # fmt: skip
    try:
        moco = build_moco(recipe, config, world.world_size)
    except ValueError as error:
        sys.exit(str(error))
    if world.enabled and recipe.sync_bn:
        moco = torch.nn.SyncBatchNorm.convert_sync_batchnorm(moco)
    memory_format = torch.channels_last if recipe.channels_last else torch.contiguous_format
    moco = moco.to(device, memory_format=memory_format).train()
    model = moco
    if world.enabled:
        model = torch.nn.parallel.DistributedDataParallel(
            moco, device_ids=[device.index] if device.type == "cuda" else None
        )
    monitor = None
    if recipe.knn_every > 0 and world.is_main:
        processor = MocoImImageProcessor.from_model_config(config)
        if "validation" not in splits:
            sys.exit(f"--knn-every needs a validation split; this dataset has {', '.join(splits)}.")
        monitor = KnnMonitor.from_splits(train, splits["validation"], processor, seed=recipe.seed)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=recipe.precision == "bf16")

    def knn_accuracy() -> float:
        with autocast:
            return monitor.accuracy(moco.encoder_q)

    # --- optimizer --------------------------------------------------------------------------------
    optimizer = build_optimizer(
        trainable_parameters(moco),
        recipe.optimizer,
        recipe.lr,
        recipe.weight_decay,
        recipe.sgd_momentum,
    )

    # --- resume -----------------------------------------------------------------------------------
    start_batch, training_s = 0, 0.0  # training_s: time spent training, not evaluating
    if args.resume:
        state = load_checkpoint(checkpoint_path)
        changed = sorted(k for k, v in state["recipe"].items() if recipe.to_dict().get(k) != v)
        if changed and world.is_main:
            print(f"note: resuming with changed recipe fields: {', '.join(changed)}")
        moco.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        restore_rng_state(state["rng"])
        start_batch, training_s = state["batch"], state.get("training_s", 0.0)
        if world.is_main:
            print(
                f"resumed from {checkpoint_path} at step {start_batch // recipe.grad_accumulation}"
            )

    def checkpoint(batch: int) -> None:
        if world.is_main:
            state = {
                "model": moco.state_dict(),
                "optimizer": optimizer.state_dict(),
                "batch": batch,
                "training_s": training_s + time.perf_counter() - clock,
                "recipe": recipe.to_dict(),
                "rng": rng_state(),
            }
            try:
                save_checkpoint(state, checkpoint_path)
            except OSError as error:  # e.g. a full disk: the previous checkpoint is still in place
                sys.exit(str(error))

    def snapshot(step: int, seconds: float) -> None:
        folder = output_dir / "snapshots" / f"step-{step:06d}"
        encoder = copy.deepcopy(moco.encoder_q).to("cpu", memory_format=torch.contiguous_format)
        encoder.save_pretrained(folder)
        MocoImImageProcessor.from_model_config(config).save_pretrained(folder)
        record = {
            "step": step,
            "epoch": round(step / steps_per_epoch, 3),
            "training_s": round(seconds, 1),
        }
        (folder / "snapshot.json").write_text(json.dumps(record) + "\n")

    # SIGTERM (a scheduler's preemption, `kill`) ends the current step, checkpoints and exits
    stop_signal = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stop_signal.append(signum))

    # --- training loop ----------------------------------------------------------------------------
    sampler = EpochSampler(
        len(train),
        recipe.batch_size,
        total_batches,
        recipe.seed,
        start_batch,
        world.rank,
        world.world_size,
    )
    decoded_bytes = len(train) * recipe.num_channels * recipe.image_size**2 * 4
    cache = batch_views is not None and decoded_bytes <= CACHE_BYTES  # views drawn per batch
    loader = DataLoader(
        SeededViews(CachedSamples(train) if cache else train, recipe.seed),
        batch_size=sampler.local_batch,
        sampler=sampler,
        num_workers=recipe.num_workers,
        collate_fn=collate_skipping_bad,
        pin_memory=device.type == "cuda",
        persistent_workers=recipe.num_workers > 0,
        generator=torch.Generator().manual_seed(recipe.seed),  # leaves the training RNG alone
    )
    log = MetricsLog(output_dir) if world.is_main else None
    progress = tqdm(
        total=total_steps,
        initial=start_batch // recipe.grad_accumulation,
        unit="step",
        disable=not world.is_main,
    )
    if monitor is not None and start_batch == 0:  # the initialisation's figure starts the curve
        log.log(0, {"knn_top1": knn_accuracy()})
    window_images, window_start, sums = 0, time.perf_counter(), {}
    clock = window_start  # training_s + now - clock: training time so far (pauses moved clock on)
    keys_updated_at = None  # the key encoder takes one EMA step per optimizer step
    for batch_index, batch in enumerate(loader, start=start_batch):
        if "image" not in batch:  # every image of this batch failed to decode (on_bad_image="skip")
            continue
        step = batch_index // recipe.grad_accumulation
        lr = learning_rate(step, total_steps, recipe.lr, recipe.lr_schedule, recipe.warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if batch_views is None:
            views = batch["image"]
        else:
            views = batch_views(batch["image"].to(device, non_blocking=True), batch["seed"])
        view1, view2 = (v.to(device, non_blocking=True, memory_format=memory_format) for v in views)
        with autocast:
            output = model(
                view1,
                view2,
                momentum=ema_momentum(step, total_steps, recipe.momentum, recipe.momentum_schedule),
                update_keys=keys_updated_at != step,
            )
        keys_updated_at = step
        if not math.isfinite(distributed.mean_over_ranks(output.loss.item(), world, device)):
            sys.exit(
                f"Stopped: the loss became non-finite at step {step} "
                f"(InfoNCE {output.infonce.item():.4g}, "
                f"intermediate {output.intermediate.item():.4g}). The last good checkpoint is "
                f"{checkpoint_path}; lower --lr or the intermediate weights, then --resume."
            )
        (output.loss / recipe.grad_accumulation).backward()
        parts = {
            "loss": output.loss,
            "infonce": output.infonce,
            "intermediate": output.intermediate,
        }
        for name, value in {**parts, **output.per_layer}.items():
            sums[name] = sums.get(name, 0.0) + value.item()
        window_images += len(view1)
        if (batch_index + 1) % recipe.grad_accumulation:
            continue
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        progress.update(1)
        done = step + 1
        metrics = {}
        if done % recipe.log_every == 0 or done == total_steps:
            batches = window_images / sampler.local_batch
            metrics = {
                name: distributed.mean_over_ranks(total / batches, world, device)
                for name, total in sums.items()
            }
            metrics |= {
                "lr": lr,
                "images_per_s": window_images
                * world.world_size
                / (time.perf_counter() - window_start),
            }
            progress.set_postfix(
                loss=f"{metrics['loss']:.3f}",
                nce=f"{metrics['infonce']:.3f}",
                im=f"{metrics['intermediate']:.3f}",
                lr=f"{lr:.3g}",
                img_s=f"{metrics['images_per_s']:.0f}",
            )
            window_images, window_start, sums = 0, time.perf_counter(), {}
        began = time.perf_counter()
        trained_s = training_s + began - clock
        if monitor is not None and (done % recipe.knn_every == 0 or done == total_steps):
            metrics["knn_top1"] = knn_accuracy()
        if recipe.snapshot_every and done % recipe.snapshot_every == 0 and world.is_main:
            snapshot(done, trained_s)
        paused = time.perf_counter() - began
        window_start, clock = window_start + paused, clock + paused  # both count training only
        if log is not None and metrics:
            log.log(done, {**metrics, "training_s": round(trained_s, 2)})
        if done % recipe.checkpoint_every == 0:
            checkpoint(batch_index + 1)
        if distributed.mean_over_ranks(float(bool(stop_signal)), world, device) > 0:
            checkpoint(batch_index + 1)
            print(
                f"Stopped by SIGTERM after step {done}; the checkpoint {checkpoint_path} holds it. "
                "Continue with --resume.",
                file=sys.stderr,
            )
            sys.exit(128 + signal.SIGTERM)
    progress.close()

    # --- save and publish -------------------------------------------------------------------------
    if total_steps % recipe.checkpoint_every:  # otherwise the loop's last checkpoint is this one
        checkpoint(total_batches)
    if world.enabled:
        torch.distributed.destroy_process_group()
    if world.is_main:
        log.close()
        loss_curve = output_dir / "loss_curves.png"
        if (output_dir / "metrics.jsonl").exists():
            title = f"{recipe.name}: MoCo v2 + {recipe.intermediate_loss} intermediate loss"
            plot_loss_curves(output_dir / "metrics.jsonl", loss_curve, title)
        try:
            model_dir = save_for_hub(
                moco.encoder_q.to("cpu", memory_format=torch.contiguous_format),
                MocoImImageProcessor.from_model_config(config),
                output_dir / "model",
                args.hub_model_id or f"your-org/mocoim-{recipe.name}",
                loss_curve=loss_curve,
            )
        except OSError as error:
            sys.exit(
                f"Could not save the model to {output_dir / 'model'} ({error}). The trained "
                f"weights are in {checkpoint_path}: free space, then rerun with --resume to save "
                "without training further."
            )
        print(f"saved the encoder and its model card to {model_dir} (checkpoint, metrics.jsonl, "
              f"loss_curves.png and TensorBoard logs in {output_dir})")  # fmt: skip
        publish(model_dir, args)
        print(f"Next: mocoim-finetune --models {model_dir} random --output-dir "
              f"{output_dir / 'few-label'}   # few-label evaluation against random init")  # fmt: skip


if __name__ == "__main__":
    main()
