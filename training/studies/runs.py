"""What both studies share: the methods compared, how a run is named and where it lives, how it is
trained (in this process, resumed where it stopped, within a time budget), and the data encoders
are scored on (the recipe's own)."""

from __future__ import annotations

import argparse
import json
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from mocoim_hub.commands.arguments import add_recipe_arguments, recipe_overrides
from mocoim_hub.data.adapters import ImageDataset
from mocoim_hub.data.kinds import data_name, open_dataset
from mocoim_hub.pretraining import PretrainingInterrupted, PretrainRecipe, TimeLimit, pretrain

RANDOM = "random"

# Recipe overrides of each method over the study's base recipe; the rest of the recipe (data,
# backbone, schedule, epochs, batch) is the same for all, so they get the same budget.
METHODS: dict[str, dict[str, object]] = {
    "moco": {"intermediate_loss": "none"},
    "moco-mse": {"intermediate_loss": "mse", "mse_form": "pooled",
                 "intermediate_weights": [0.25, 0.25, 0.25, 0.25]},
    "moco-bt": {"intermediate_loss": "barlow", "barlow_weighting": "standard",
                "intermediate_weights": [0.005, 0.005, 0.005, 0.005]},
}  # fmt: skip

# Recipe fields that change how a run is logged, not what it learns.
BOOKKEEPING = {"name", "num_workers", "log_every", "checkpoint_every", "knn_every",
               "snapshot_every", "report_to"}  # fmt: skip


def run_name(method: str, seed: int) -> str:
    return f"{method}-s{seed}"


def method_of(name: str) -> str:
    """`moco-bt-s2` -> `moco-bt`."""
    return name.rsplit("-s", 1)[0]


def recipe_splits(recipe: PretrainRecipe) -> tuple[dict[str, ImageDataset], str]:
    """The splits a recipe pretrains on, and their display name: studies score encoders there."""
    splits = open_dataset(recipe.dataset, recipe.data_path, recipe.table_options,
                          on_bad_image=recipe.on_bad_image)  # fmt: skip
    return splits, recipe.dataset_name or data_name(recipe.dataset, recipe.data_path)


def parse_overrides(arguments: list[str]) -> dict[str, object]:
    """`["--max-steps", "2"]` -> `{"max_steps": 2}`: recipe fields as `mocoim-pretrain` takes them."""
    parser = argparse.ArgumentParser(prog="--pretrain-args", add_help=False)
    add_recipe_arguments(parser)
    return recipe_overrides(parser.parse_args(arguments))


class Budget:
    """Wall-clock minutes left to this invocation (None: no limit)."""

    def __init__(self, minutes: float | None):
        self.deadline = None if minutes is None else time.monotonic() + 60 * minutes

    def left_s(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def spent(self) -> bool:
        return self.deadline is not None and self.left_s() <= 0


class StaleRunError(ValueError):
    """A run folder holds a run of another recipe."""


def train(folder: Path, recipe: str, overrides: dict, budget: Budget, ignored=()) -> bool:
    """Train (or resume) `recipe` with `overrides` into `folder`, logging to its `pretrain.log`;
    False when the budget ran out first (the run is checkpointed and resumes next time).
    `ignored` fields (smoke-run settings) may differ from an existing run's."""
    check_not_stale(folder, recipe, overrides, ignored)
    if (folder / "model" / "model.safetensors").exists():
        return True
    if budget.spent():
        return False
    folder.mkdir(parents=True, exist_ok=True)
    limit = [] if budget.deadline is None else [TimeLimit(budget.left_s())]
    with open(folder / "pretrain.log", "a") as log, redirect_stdout(log), redirect_stderr(log):
        try:
            pretrain(recipe, folder, resume=(folder / "checkpoint.pt").exists(), callbacks=limit,
                     **overrides)  # fmt: skip
        except PretrainingInterrupted:
            return False
    return True


def check_not_stale(folder: Path, recipe: str, overrides: dict, ignored=()) -> None:
    """Refuse a folder that holds a run of another recipe (the recipe file changed since):
    reusing it would score it under the wrong name."""
    if not (folder / "recipe.json").exists():
        return
    saved = json.loads((folder / "recipe.json").read_text())
    wanted = json.loads(json.dumps(PretrainRecipe.resolve(recipe, **overrides).to_dict()))
    skip = BOOKKEEPING | set(ignored)
    changed = [f"{k}={saved.get(k)!r} (now {v!r})" for k, v in wanted.items()
               if k not in skip and saved.get(k) != v]  # fmt: skip
    if changed:
        raise StaleRunError(
            f"{folder} holds a run with {', '.join(changed)}: its scores would be mislabelled. "
            "Move the folder away (or pass another --work-dir) to train it again."
        )
