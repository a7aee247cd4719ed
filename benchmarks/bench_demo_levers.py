"""The demo recipe's two CPU levers, each against what it replaced, alternately in one run:

1. data: two augmented views of a batch of the embedded dataset, per image as a DataLoader worker
   does (`two_view_transform` on each decoded image) against `BatchViews` on the decoded batch;
2. step: the demo's pretraining step (forward, backward, SGD) with the small-map weight
   gradients of `mocoim_hub.pretraining.small_map_convs` against plain `nn.Conv2d`.

    python benchmarks/bench_demo_levers.py [--repeats 7]

Prints medians and the ratio new/old (for speed: old time / new time).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from mocoim_hub.data.augment import fixed_size_transform, two_view_transform
from mocoim_hub.data.batch_augment import BatchViews
from mocoim_hub.data.kinds import open_dataset
from mocoim_hub.pretraining.build import build_moco, encoder_config, trainable_parameters
from mocoim_hub.pretraining.optim import build_optimizer
from mocoim_hub.pretraining.recipe import PretrainRecipe
from mocoim_hub.pretraining.small_map_convs import SmallMapConv2d


def timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    recipe = PretrainRecipe.load("demo")
    size, channels, batch = recipe.image_size, recipe.num_channels, recipe.batch_size
    train = open_dataset("default")["train"]
    print(f"{torch.get_num_threads()} threads; demo recipe: {recipe.backbone} at {size} px, "
          f"batch {batch}, {recipe.precision}, {recipe.intermediate_loss} loss")  # fmt: skip

    # --- data: per-image views against batched views -------------------------------------------
    images = [train[i]["image"] for i in range(batch)]  # decoded PIL images
    per_image = two_view_transform(recipe.augmentation, size, channels)
    decoded = torch.stack([fixed_size_transform(size, channels)(image) for image in images])
    batched = BatchViews(recipe.augmentation, size, channels)
    seeds = torch.arange(batch)
    data = {"per image": [], "batched": []}
    for _ in range(args.repeats):
        data["per image"].append(timed(lambda: [per_image(image) for image in images]))
        data["batched"].append(timed(lambda: batched(decoded, seeds)))

    # --- step: small-map weight gradients against nn.Conv2d -------------------------------------
    memory_format = torch.channels_last if recipe.channels_last else torch.contiguous_format
    models = {
        name: build_moco(recipe, encoder_config(recipe)).to(memory_format=memory_format).train()
        for name in ("nn.Conv2d", "small-map")
    }
    for module in models["nn.Conv2d"].modules():
        if type(module) is SmallMapConv2d:
            module.__class__ = nn.Conv2d
    optimizers = {
        name: build_optimizer(trainable_parameters(moco), "sgd", 0.01, 1e-4, 0.9)
        for name, moco in models.items()
    }
    views = [v.contiguous(memory_format=memory_format) for v in batched(decoded, seeds)]

    def step(name: str) -> None:
        models[name](*views).loss.backward()
        optimizers[name].step()
        optimizers[name].zero_grad(set_to_none=True)

    steps = {name: [] for name in models}
    for _ in range(args.repeats + 1):  # the first round is warm-up
        for name in models:
            steps[name].append(timed(step, name))
    steps = {name: times[1:] for name, times in steps.items()}

    def report(title: str, results: dict[str, list[float]], old: str, new: str) -> None:
        medians = {name: statistics.median(times) for name, times in results.items()}
        print(f"\n{title} (medians of {args.repeats}, seconds per batch of {batch})")
        for name, median in medians.items():
            print(f"  {name:<12} {median:8.3f} s   {batch / median:8.1f} img/s")
        print(f"  {new} / {old} speed: {medians[old] / medians[new]:.2f}x")

    report("two views of a batch", data, "per image", "batched")
    report("pretraining step", steps, "nn.Conv2d", "small-map")


if __name__ == "__main__":
    main()
