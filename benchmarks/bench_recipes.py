"""Expected time per epoch of the paper-scale recipes, measured: optimizer steps of each recipe
(its backbone, batch, image size, intermediate loss, precision on CUDA) on random views, median
of --repeats after a warm-up, alternating with the same recipe without the intermediate loss
(plain MoCo v2) as the baseline of the same run. An epoch is the recipe's dataset's training
split (70 % of the images, as the adapters split it) divided by the batch. Data loading is not
included: see bench_data.py for whether the workers keep up.

    python benchmarks/bench_recipes.py [--recipes paper-nih paper-bch paper-dr] [--device cuda]
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


def step_function(recipe: PretrainRecipe, device: str):
    torch.manual_seed(0)
    moco = build_moco(recipe, encoder_config(recipe))
    cuda = device.startswith("cuda")
    memory_format = (
        torch.channels_last if cuda and recipe.channels_last else torch.contiguous_format
    )
    moco = moco.to(device, memory_format=memory_format).train()
    optimizer = build_optimizer(trainable_parameters(moco), recipe.optimizer, recipe.lr,
                                recipe.weight_decay, recipe.sgd_momentum)  # fmt: skip
    bf16 = cuda and recipe.precision == "bf16"
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
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(f"device: {name}, {torch.get_num_threads()} threads; medians of {args.repeats} steps\n")
    print("| recipe | backbone, px, batch | s/step | img/s | epoch | plain MoCo s/step | ratio |")
    print("|---|---|---|---|---|---|---|")
    for recipe_name in args.recipes:
        recipe = PretrainRecipe.load(recipe_name)
        plain = dataclasses.replace(recipe, intermediate_loss="none")
        steps = {
            "im": step_function(recipe, args.device),
            "plain": step_function(plain, args.device),
        }
        for step in steps.values():
            step()  # warm-up: allocation, cuDNN autotuning
        times = {key: [] for key in steps}
        for _ in range(args.repeats):
            for key, step in steps.items():
                times[key].append(step())
        im, base = (statistics.median(times[k]) for k in ("im", "plain"))
        epoch_min = TRAIN_IMAGES[recipe.dataset] / recipe.batch_size * im / 60
        epoch = f"{epoch_min:.1f} min" if epoch_min < 120 else f"{epoch_min / 60:.1f} h"
        print(f"| {recipe_name} | {recipe.backbone}, {recipe.image_size}, {recipe.batch_size} | "
              f"{im:.2f} | {recipe.batch_size / im:.1f} | {epoch} | {base:.2f} | "
              f"{im / base:.3f} |", flush=True)  # fmt: skip
        del steps


if __name__ == "__main__":
    main()
