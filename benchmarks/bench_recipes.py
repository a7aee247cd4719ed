"""Expected time per epoch of the paper-scale recipes, measured: optimizer steps of each recipe
(its backbone, batch, image size, intermediate loss; its precision on CUDA, fp32 on CPU unless
--precision says otherwise) on random views, median of --repeats after a warm-up, alternating
with the same recipe without the intermediate loss (plain MoCo v2) as the baseline of the same
run; --losses times other intermediate losses on the same recipe against the same baseline. An epoch is the recipe's dataset's training
split (70 % of the images, as the adapters split it) divided by the batch. Data loading is not
included: see bench_data.py for whether the workers keep up.

    python benchmarks/bench_recipes.py [--recipes paper-nih paper-bch paper-dr] [--device cuda]
    python benchmarks/bench_recipes.py --recipes paper-nih --losses mse barlow --precision bf16
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch

from mocoim_hub.pretraining.build import build_moco, encoder_config, trainable_parameters
from mocoim_hub.pretraining.optim import build_optimizer
from mocoim_hub.pretraining.recipe import PretrainRecipe

# 70 % of NIH ChestX-ray14 (112,120), IDC patches (277,524), EyePACS train (35,126); the
# embedded default dataset's train split
TRAIN_IMAGES = {"nih": 78_484, "idc": 194_267, "dr": 24_588, "default": 10_000}


def step_function(recipe: PretrainRecipe, device: str, bf16: bool):
    torch.manual_seed(0)
    moco = build_moco(recipe, encoder_config(recipe))
    cuda = device.startswith("cuda")
    memory_format = (
        torch.channels_last if cuda and recipe.channels_last else torch.contiguous_format
    )
    moco = moco.to(device, memory_format=memory_format).train()
    optimizer = build_optimizer(trainable_parameters(moco), recipe.optimizer, recipe.lr,
                                recipe.weight_decay, recipe.sgd_momentum)  # fmt: skip
    shape = (recipe.batch_size, recipe.num_channels, recipe.image_size, recipe.image_size)
    views = [
        torch.rand(shape, device=device).contiguous(memory_format=memory_format) for _ in (0, 1)
    ]

    def step() -> float:
        if cuda:
            torch.cuda.synchronize()
        began = time.perf_counter()
        with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
            loss = moco(*views).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - began

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", nargs="+", default=["paper-nih", "paper-bch", "paper-dr"])
    parser.add_argument("--losses", nargs="+", choices=("mse", "barlow"),
                        help="intermediate losses to time (default: each recipe's own)")  # fmt: skip
    parser.add_argument("--precision", choices=("fp32", "bf16"),
                        help="default: the recipe's on CUDA, fp32 on CPU")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    cuda = args.device.startswith("cuda")
    name = torch.cuda.get_device_name() if cuda else "CPU"
    print(f"device: {name}, {torch.get_num_threads()} threads; medians of {args.repeats} steps\n")
    print("| recipe | loss | precision | backbone, px, batch | s/step | img/s | epoch "
          "| plain MoCo s/step | ratio |\n|---|---|---|---|---|---|---|---|---|")  # fmt: skip
    for recipe_name in args.recipes:
        recipe = PretrainRecipe.load(recipe_name)
        precision = args.precision or (recipe.precision if cuda else "fp32")
        variants = {
            loss: dataclasses.replace(recipe, intermediate_loss=loss)
            for loss in ["none", *(args.losses or [recipe.intermediate_loss])]
        }
        steps = {
            loss: step_function(variant, args.device, precision == "bf16")
            for loss, variant in variants.items()
        }
        for step in steps.values():
            step()  # warm-up: allocation, cuDNN autotuning
        times = {loss: [] for loss in steps}
        for _ in range(args.repeats):
            for loss, step in steps.items():
                times[loss].append(step())
        base = statistics.median(times["none"])
        for loss in list(steps)[1:]:
            im = statistics.median(times[loss])
            epoch_min = TRAIN_IMAGES[recipe.dataset] / recipe.batch_size * im / 60
            epoch = f"{epoch_min:.1f} min" if epoch_min < 120 else f"{epoch_min / 60:.1f} h"
            print(f"| {recipe_name} | {loss} | {precision} | {recipe.backbone}, {recipe.image_size}, "
                  f"{recipe.batch_size} | {im:.2f} | {recipe.batch_size / im:.1f} | {epoch} | "
                  f"{base:.2f} | {im / base:.3f} |", flush=True)  # fmt: skip
        del steps


if __name__ == "__main__":
    main()
