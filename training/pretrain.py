"""Pretrain a MoCo-IM encoder: MoCo v2 plus an intermediate-layer loss (Kaku et al., NeurIPS 2021).

    python training/pretrain.py --recipe demo --output-dir runs/demo
    python training/pretrain.py --recipe paper-nih --data-path /data/NIH --output-dir runs/nih
    python training/pretrain.py --recipe demo --output-dir runs/demo --resume   # after a crash

Any recipe field can be overridden (`--lr 0.03 --intermediate-loss mse`). The run writes
`checkpoint.pt` (atomic; every `checkpoint_every` steps and at the end), `metrics.jsonl`,
`tensorboard/`, `loss_curves.png`, `recipe.json`, and the query encoder as a transformers model
folder in `model/`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from mocoim_hub import MocoImConfig, MocoImImageProcessor, MocoImModel
from mocoim_hub.data.adapters import open_dataset
from mocoim_hub.data.augment import two_view_transform
from mocoim_hub.data.loading import collate_skipping_bad
from mocoim_hub.pretraining import IntermediateLoss, MocoIm
from mocoim_hub.pretraining.checkpoint import (
    load_checkpoint,
    restore_rng_state,
    rng_state,
    save_checkpoint,
)
from mocoim_hub.pretraining.metrics import MetricsLog, plot_loss_curves
from mocoim_hub.pretraining.optim import build_optimizer
from mocoim_hub.pretraining.recipe import (
    PretrainRecipe,
    add_recipe_arguments,
    recipe_from_arguments,
)
from mocoim_hub.pretraining.schedules import ema_momentum, learning_rate
from mocoim_hub.pretraining.stream import EpochSampler, SeededViews

# --- arguments and recipe ---------------------------------------------------------------------------
parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
)
parser.add_argument("--recipe", default="demo", help="name in training/recipes/ or a JSON path")
parser.add_argument("--output-dir", type=Path, required=True)
parser.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR/checkpoint.pt")
parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
add_recipe_arguments(parser)
args = parser.parse_args()
recipe = recipe_from_arguments(PretrainRecipe.load(args.recipe), args)
output_dir, device = args.output_dir, torch.device(args.device)
checkpoint_path = output_dir / "checkpoint.pt"
if checkpoint_path.exists() and not args.resume:
    sys.exit(
        f"{checkpoint_path} exists: pass --resume to continue that run, or choose another --output-dir."
    )
output_dir.mkdir(parents=True, exist_ok=True)
(output_dir / "recipe.json").write_text(json.dumps(recipe.to_dict(), indent=2) + "\n")
print(json.dumps(recipe.to_dict(), indent=2))
torch.manual_seed(recipe.seed)

# --- data -------------------------------------------------------------------------------------------
train = open_dataset(recipe.dataset, recipe.data_path)["train"]
train.transform = two_view_transform(recipe.augmentation, recipe.image_size, recipe.num_channels)
batches_per_epoch = len(train) // recipe.batch_size
total_batches = recipe.epochs * batches_per_epoch
if recipe.max_steps is not None:
    total_batches = min(total_batches, recipe.max_steps * recipe.grad_accumulation)
total_steps = total_batches // recipe.grad_accumulation

# --- model and loss ---------------------------------------------------------------------------------
config = MocoImConfig(
    backbone=recipe.backbone,
    num_channels=recipe.num_channels,
    stem=recipe.stem,
    zero_init_residual=recipe.zero_init_residual,
    image_size=recipe.image_size,
    pretraining_recipe=recipe.name,
    pretraining_dataset=recipe.dataset
    if recipe.data_path is None
    else f"{recipe.dataset}:{recipe.data_path}",
    intermediate_loss=recipe.intermediate_loss,
    intermediate_layers=recipe.intermediate_layers if recipe.intermediate_loss != "none" else [],
    intermediate_weights=recipe.intermediate_weights if recipe.intermediate_loss != "none" else [],
    pretraining_hparams=recipe.to_dict(),
)
intermediate = None
if recipe.intermediate_loss != "none":
    intermediate = IntermediateLoss(
        recipe.intermediate_loss,
        dict(zip(recipe.intermediate_layers, recipe.intermediate_weights, strict=True)),
        config.hidden_sizes,
        mse_form=recipe.mse_form,
        mse_grids=dict(zip(recipe.intermediate_layers, recipe.mse_grids, strict=True)),
        mse_normalize=recipe.mse_normalize,
        barlow_weighting=recipe.barlow_weighting,
        barlow_dim=recipe.barlow_dim,
    )
moco = MocoIm(
    MocoImModel(config),
    dim=recipe.dim,
    queue_size=recipe.queue_size,
    momentum=recipe.momentum,
    temperature=recipe.temperature,
    mlp=recipe.mlp,
    intermediate=intermediate,
)
memory_format = torch.channels_last if recipe.channels_last else torch.contiguous_format
moco = moco.to(device, memory_format=memory_format).train()
autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=recipe.precision == "bf16")

# --- optimizer --------------------------------------------------------------------------------------
trainable = moco.query_parameters() + (list(intermediate.parameters()) if intermediate else [])
optimizer = build_optimizer(
    trainable, recipe.optimizer, recipe.lr, recipe.weight_decay, recipe.sgd_momentum
)

# --- resume -----------------------------------------------------------------------------------------
start_batch = 0
if args.resume:
    if not checkpoint_path.exists():
        sys.exit(f"--resume given but there is no {checkpoint_path}.")
    state = load_checkpoint(checkpoint_path)
    if state["recipe"] != recipe.to_dict():
        changed = sorted(
            k for k in state["recipe"] if state["recipe"][k] != recipe.to_dict().get(k)
        )
        print(f"note: resuming with changed recipe fields: {', '.join(changed)}")
    moco.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    restore_rng_state(state["rng"])
    start_batch = state["batch"]
    print(f"resumed from {checkpoint_path} at step {start_batch // recipe.grad_accumulation}")


def checkpoint(batch: int) -> None:
    state = {"model": moco.state_dict(), "optimizer": optimizer.state_dict(), "batch": batch,
             "recipe": recipe.to_dict(), "rng": rng_state()}  # fmt: skip
    save_checkpoint(state, checkpoint_path)


# --- training loop ----------------------------------------------------------------------------------
sampler = EpochSampler(len(train), recipe.batch_size, total_batches, recipe.seed, start_batch)
loader = DataLoader(
    SeededViews(train, recipe.seed),
    batch_size=recipe.batch_size,
    sampler=sampler,
    num_workers=recipe.num_workers,
    collate_fn=collate_skipping_bad,
    pin_memory=device.type == "cuda",
    persistent_workers=recipe.num_workers > 0,
)
log = MetricsLog(output_dir)
progress = tqdm(total=total_steps, initial=start_batch // recipe.grad_accumulation, unit="step")
window_images, window_start, sums = 0, time.perf_counter(), {}
for batch_index, batch in enumerate(loader, start=start_batch):
    if "image" not in batch:  # every image of this batch failed to decode (on_bad_image="skip")
        continue
    step = batch_index // recipe.grad_accumulation
    lr = learning_rate(step, total_steps, recipe.lr, recipe.lr_schedule, recipe.warmup_steps)
    for group in optimizer.param_groups:
        group["lr"] = lr
    view1, view2 = (
        v.to(device, non_blocking=True, memory_format=memory_format) for v in batch["image"]
    )
    with autocast:
        output = moco(
            view1,
            view2,
            momentum=ema_momentum(step, total_steps, recipe.momentum, recipe.momentum_schedule),
        )
    if not math.isfinite(output.loss.item()):
        sys.exit(
            f"Stopped: the loss became {output.loss.item()} at step {step} (InfoNCE "
            f"{output.infonce.item():.4g}, intermediate {output.intermediate.item():.4g}). The last good "
            f"checkpoint is {checkpoint_path}; lower --lr or the intermediate weights, then --resume."
        )
    (output.loss / recipe.grad_accumulation).backward()
    parts = {"loss": output.loss, "infonce": output.infonce, "intermediate": output.intermediate}
    for name, value in {**parts, **output.per_layer}.items():
        sums[name] = sums.get(name, 0.0) + value.item()
    window_images += len(view1)
    if (batch_index + 1) % recipe.grad_accumulation:
        continue
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    progress.update(1)
    done = step + 1
    if done % recipe.log_every == 0 or done == total_steps:
        elapsed = time.perf_counter() - window_start
        metrics = {
            name: total / (window_images / recipe.batch_size) for name, total in sums.items()
        }
        metrics |= {"lr": lr, "images_per_s": window_images / elapsed}
        log.log(done, metrics)
        progress.set_postfix(loss=f"{metrics['loss']:.3f}", nce=f"{metrics['infonce']:.3f}",
                             im=f"{metrics['intermediate']:.3f}", lr=f"{lr:.3g}",
                             img_s=f"{metrics['images_per_s']:.0f}")  # fmt: skip
        window_images, window_start, sums = 0, time.perf_counter(), {}
    if done % recipe.checkpoint_every == 0:
        checkpoint(batch_index + 1)
progress.close()
log.close()

# --- save -------------------------------------------------------------------------------------------
checkpoint(total_batches)
model_dir = output_dir / "model"
moco.encoder_q.to("cpu", memory_format=torch.contiguous_format).save_pretrained(model_dir)
MocoImImageProcessor.from_model_config(config).save_pretrained(model_dir)
if (output_dir / "metrics.jsonl").exists():
    plot_loss_curves(
        output_dir / "metrics.jsonl",
        output_dir / "loss_curves.png",
        f"{recipe.name}: {recipe.intermediate_loss}",
    )
print(f"saved the encoder to {model_dir}")
