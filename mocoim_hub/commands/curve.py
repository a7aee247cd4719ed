"""Learning-curve study on the embedded default dataset: is the pretrained encoder better than a
random-init one, and after how much training? (`mocoim_hub.curve` has the method.)

    mocoim-curve ablations --max-minutes 150    # short variants of the demo recipe, validation split
    mocoim-curve curve --max-minutes 150        # MoCo, MoCo+MSE, MoCo+BT trained long, snapshots

Each part is a list of `mocoim-pretrain` runs in --work-dir; a finished run is reused and an
unfinished one resumed, so a part spread over several sessions is rerun until it reports that
it is complete. `--max-minutes` stops the part after that long (a running pretraining is stopped
by SIGTERM, which checkpoints it). Tables and plots go to --output-dir (`results/curve/`).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from ..curve import ABLATIONS, knn_validation_accuracy, probe_scores
from ..data.kinds import open_dataset
from ..finetune import Encoder
from ..pretraining.metrics import read_metrics
from ..pretraining.recipe import PretrainRecipe


def recipe_arguments(overrides: dict[str, object]) -> list[str]:
    """`{"queue_size": 1024}` -> `["--queue-size", "1024"]` (lists as several values)."""
    arguments = []
    for field, value in overrides.items():
        values = value if isinstance(value, list) else [value]
        arguments += ["--" + field.replace("_", "-"), *map(str, values)]
    return arguments


class Budget:
    """Wall-clock minutes left to this invocation."""

    def __init__(self, minutes: float | None):
        self.deadline = None if minutes is None else time.monotonic() + 60 * minutes

    def left_s(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def spent(self) -> bool:
        return self.deadline is not None and self.left_s() <= 0


def pretrain(folder: Path, recipe: str, arguments: list[str], budget: Budget) -> bool:
    """Run (or resume) one pretraining into `folder`; False when the budget stopped it first."""
    if (folder / "model" / "model.safetensors").exists():
        return True
    if budget.spent():
        return False
    folder.mkdir(parents=True, exist_ok=True)
    resume = ["--resume"] if (folder / "checkpoint.pt").exists() else []
    command = [sys.executable, "-m", "mocoim_hub.commands.pretrain", "--recipe", recipe,
               "--output-dir", str(folder), *arguments, *resume]  # fmt: skip
    with open(folder / "pretrain.log", "a") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            code = process.wait(timeout=budget.left_s())
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)  # the run checkpoints its step and exits
            process.wait()
            return False
    if code:
        sys.exit(f"Pretraining {folder} failed; see {folder / 'pretrain.log'}.")
    return True


def run_ablations(args: argparse.Namespace, budget: Budget) -> bool:
    splits = open_dataset("default")
    rows = []
    for name, overrides in ABLATIONS.items():
        folder = args.work_dir / "ablations" / name.replace(" ", "-")
        arguments = recipe_arguments({"epochs": args.epochs, "seed": args.seed, **overrides})
        if not pretrain(folder, args.recipe, arguments, budget):
            print(f"stopped for time before finishing {name!r}; rerun to continue")
            return False
        scores_path = folder / "validation.json"
        if not scores_path.exists():
            encoder = Encoder.from_pretrained(name, str(folder / "model"))
            probes = probe_scores(encoder, splits, args.fractions, args.subset_seeds, "validation")
            record = {"knn": knn_validation_accuracy(encoder, splits),
                      "probes": [asdict(p) for p in probes]}  # fmt: skip
            scores_path.write_text(json.dumps(record, indent=2) + "\n")
        record = json.loads(scores_path.read_text())
        training_s = read_metrics(folder / "metrics.jsonl")[-1]["training_s"]
        rows.append((name, overrides, record, training_s))
        write_ablation_table(rows, args)
    return True


def write_ablation_table(rows: list, args: argparse.Namespace) -> None:
    fractions = args.fractions
    base = PretrainRecipe.load(args.recipe)
    lines = [
        f"Ablations of the `{args.recipe}` recipe, {args.epochs} epochs each, pretraining seed "
        f"{args.seed}; **validation split**: kNN (k = 20, all train images as the bank) and "
        f"linear probes on pooled layer4 features (mean, and range over subset seeds "
        f"{args.subset_seeds}).\n",
        f"Base: {base.augmentation} augmentation, lr {base.lr}, T {base.temperature}, "
        f"K {base.queue_size}, m {base.momentum}, batch {base.batch_size}, "
        f"{base.intermediate_loss} intermediate loss {base.intermediate_weights}, "
        f"{base.precision}.\n",
        "| variant | change | kNN | "
        + " | ".join(f"linear {f * 100:g} %" for f in fractions)
        + " | training min |",
        "|---|---|---|" + "---|" * len(fractions) + "---|",
    ]
    for name, overrides, record, training_s in rows:
        probes = {p["fraction"]: p for p in record["probes"]}
        cells = [f"{probes[f]['mean']:.3f} ({probes[f]['low']:.3f}–{probes[f]['high']:.3f})"
                 for f in fractions]  # fmt: skip
        change = ", ".join(f"{k} {v}" for k, v in overrides.items()) or "—"
        lines.append(f"| {name} | {change} | {record['knn']:.3f} | " + " | ".join(cells)
                     + f" | {training_s / 60:.1f} |")  # fmt: skip
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "ablations.md").write_text("\n".join(lines) + "\n")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("part", choices=["ablations"])
    parser.add_argument("--output-dir", type=Path, default=Path("results/curve"))
    parser.add_argument("--work-dir", type=Path, default=Path("runs/curve"))
    parser.add_argument("--recipe", default="demo")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0, help="pretraining seed")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.1])
    parser.add_argument("--subset-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-minutes", type=float, help="stop this invocation after that long")
    args = parser.parse_args(argv)
    budget = Budget(args.max_minutes)
    complete = run_ablations(args, budget)
    print(f"{args.part}: {'complete' if complete else 'not complete; rerun to continue'}; "
          f"tables in {args.output_dir}")  # fmt: skip


if __name__ == "__main__":
    main()
