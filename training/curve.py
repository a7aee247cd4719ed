"""Learning-curve study on a recipe's dataset (for `demo`, the embedded default one): is the
pretrained encoder better than a random-init one, and after how much training? (`studies/curve.py`
has the method.)

    python training/curve.py ablations --max-minutes 150   # short variants of demo, validation split
    python training/curve.py curve --max-minutes 150       # MoCo, MoCo+MSE, MoCo+BT long, snapshots

Each part is a list of pretraining runs in --work-dir, trained in this process; a finished run is
reused and an unfinished one resumed, so a part spread over several sessions is rerun until it
reports that it is complete. `--max-minutes` stops the part after that long (a running pretraining
checkpoints its step and stops). Tables and plots go to --output-dir (`results/curve/`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from functools import partial
from pathlib import Path

from mocoim_hub.finetune import Encoder
from mocoim_hub.modeling_mocoim import MocoImModel
from mocoim_hub.pretraining.build import encoder_config
from mocoim_hub.pretraining.metrics import read_metrics
from mocoim_hub.pretraining.recipe import PretrainRecipe

from studies.curve import (
    ABLATIONS,
    ProbeScore,
    knn_validation_accuracy,
    plot_curve,
    plot_monitor,
    probe_scores,
)
from studies.runs import (
    METHODS,
    RANDOM,
    Budget,
    StaleRunError,
    parse_overrides,
    recipe_splits,
    run_name,
    train,
)


def run_ablations(args: argparse.Namespace, budget: Budget) -> bool:
    recipe = PretrainRecipe.load(args.recipe)
    splits, _ = recipe_splits(recipe)
    reference = partial(Encoder.random_init, MocoImModel(encoder_config(recipe)))
    path = args.work_dir / "ablations" / f"{RANDOM}-s0.json"
    rows = [("random init", {}, validation_scores(reference, splits, args, path), None)]
    for name in args.variants or ABLATIONS:
        overrides = ABLATIONS[name]
        folder = args.work_dir / "ablations" / name.replace(" ", "-")
        changes = {"epochs": args.epochs, "seed": args.seed, **overrides}
        if not train(folder, args.recipe, {**changes, **args.smoke}, budget, ignored=args.smoke):
            print(f"stopped for time before finishing {name!r}; rerun to continue")
            return False
        trained = partial(Encoder.from_pretrained, name, str(folder / "model"))
        record = validation_scores(trained, splits, args, folder / "validation.json")
        training_s = read_metrics(folder / "metrics.jsonl")[-1]["training_s"]
        rows.append((name, overrides, record, training_s))
        write_ablation_table(rows, args)
    return True


def validation_scores(
    load: Callable[[], Encoder], splits: dict, args: argparse.Namespace, path: Path
) -> dict:
    """kNN and linear-probe accuracy on the validation split of the encoder `load` gives, cached
    in `path` (the encoder is loaded only when not cached)."""
    if not path.exists():
        encoder = load()
        probes = probe_scores(encoder, splits, args.fractions, args.subset_seeds)
        record = {"knn": knn_validation_accuracy(encoder, splits),
                  "probes": [asdict(p) for p in probes]}  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2) + "\n")
    return json.loads(path.read_text())


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
        f"{base.precision}. Training minutes are wall time of the training steps on this "
        "shared 2-core machine and vary with other load.\n",
        "| variant | recipe change | kNN | "
        + " | ".join(f"linear {f * 100:g} %" for f in fractions)
        + " | training min |",
        "|---|---|---|" + "---|" * len(fractions) + "---|",
    ]
    for name, overrides, record, training_s in rows:
        probes = {p["fraction"]: p for p in record["probes"]}
        cells = [f"{probes[f]['mean']:.3f} ({probes[f]['low']:.3f}–{probes[f]['high']:.3f})"
                 for f in fractions]  # fmt: skip
        change = ", ".join(f"`{k}={json.dumps(v)}`" for k, v in overrides.items()) or "—"
        minutes = "—" if training_s is None else f"{training_s / 60:.1f}"
        lines.append(f"| {name} | {change} | {record['knn']:.3f} | " + " | ".join(cells)
                     + f" | {minutes} |")  # fmt: skip
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "ablations.md").write_text("\n".join(lines) + "\n")


def run_curve(args: argparse.Namespace, budget: Budget) -> bool:
    recipe = PretrainRecipe.load(args.recipe)
    splits, dataset_name = recipe_splits(recipe)
    steps_per_epoch = len(splits["train"]) // recipe.batch_size
    complete, points, monitors = True, {}, {}
    for method in args.methods:
        for seed in args.seeds:
            name = run_name(method, seed)
            folder = args.work_dir / "curve" / name
            overrides = {**METHODS[method], "epochs": args.epochs, "seed": seed,
                         "snapshot_every": steps_per_epoch * args.every,
                         "knn_every": steps_per_epoch}  # fmt: skip
            overrides |= args.smoke
            complete &= train(folder, args.recipe, overrides, budget, ignored=args.smoke)
            points[name] = evaluated_snapshots(folder, name, splits, args, budget)
            if (folder / "metrics.jsonl").exists():
                monitors[name] = read_metrics(folder / "metrics.jsonl")
    reference = random_init_scores(recipe, splits, args)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "curve.json").write_text(json.dumps(
        {"recipe": args.recipe, "epochs": args.epochs, "snapshot_every_epochs": args.every,
         "subset_seeds": args.subset_seeds, "runs": points,
         "random_init": [asdict(r) for r in reference]}, indent=2) + "\n")  # fmt: skip
    title = (f"{args.recipe} recipe on {dataset_name}; "
             f"linear probes, bars: range over subset seeds {args.subset_seeds}")  # fmt: skip
    points = {name: snapshots for name, snapshots in points.items() if snapshots}
    if points:
        plot_curve(points, reference, args.fractions, args.output_dir / "curve.png", title)
        plot_monitor(monitors, steps_per_epoch, args.output_dir / "monitor.png")
        write_curve_table(points, reference, monitors, steps_per_epoch, args)
    return complete


def evaluated_snapshots(
    folder: Path, name: str, splits: dict, args: argparse.Namespace, budget: Budget
) -> list[dict]:
    """Each snapshot of a run with its probes (cached in the snapshot's `probes.json`); a snapshot
    not yet evaluated is left for the next invocation once the budget is spent."""
    snapshots = []
    for snapshot in sorted((folder / "snapshots").glob("step-*")):
        cached = snapshot / "probes.json"
        if not cached.exists():
            if budget.spent():
                break
            encoder = Encoder.from_pretrained(name, str(snapshot))
            probes = probe_scores(encoder, splits, args.fractions, args.subset_seeds,
                                  on=("validation", "test"))  # fmt: skip
            cached.write_text(json.dumps([asdict(p) for p in probes], indent=2) + "\n")
        record = json.loads((snapshot / "snapshot.json").read_text())
        snapshots.append({**record, "probes": json.loads(cached.read_text())})
    return snapshots


def random_init_scores(recipe: PretrainRecipe, splits: dict, args: argparse.Namespace) -> list:
    """Probes of random-init encoders of the recipe's architecture, one per pretraining seed
    (cached in the work dir)."""
    scores = []
    for seed in args.random_seeds:
        cached = args.work_dir / "curve" / f"{RANDOM}-s{seed}.json"
        if not cached.exists():
            like = MocoImModel(encoder_config(recipe))
            encoder = Encoder.random_init(like, seed, run_name(RANDOM, seed))
            probes = probe_scores(encoder, splits, args.fractions, args.subset_seeds,
                                  on=("validation", "test"))  # fmt: skip
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_text(json.dumps([asdict(p) for p in probes], indent=2) + "\n")
        scores += [ProbeScore(**p) for p in json.loads(cached.read_text())]
    return scores


def write_curve_table(points, reference, monitors, steps_per_epoch, args) -> None:
    def cell(probes, fraction, split):
        (p,) = [p for p in probes if p["fraction"] == fraction and p["split"] == split]
        return f"{p['mean']:.3f} ({p['low']:.3f}–{p['high']:.3f})"

    columns = [(f, split) for split in ("test", "validation") for f in args.fractions]
    lines = [
        f"Linear probes on pooled layer4 features of snapshots of `{args.recipe}` runs: mean "
        f"(range) over labelled-subset seeds {args.subset_seeds}; kNN: the run's monitor on the "
        "validation split at that step; hours: training time on this 2-core machine.\n",
        "| run | epoch | hours | kNN | "
        + " | ".join(f"{split} {f * 100:g} %" for f, split in columns) + " |",
        "|---|---|---|---|" + "---|" * len(columns),
    ]  # fmt: skip
    random_rows = {}
    for score in reference:
        random_rows.setdefault(score.encoder, []).append(asdict(score))
    for name, probes in random_rows.items():
        lines.append(f"| {name} | 0 | 0 | — | "
                     + " | ".join(cell(probes, f, split) for f, split in columns) + " |")  # fmt: skip
    for name, snapshots in points.items():
        knn = {r["step"]: r["knn_top1"] for r in monitors.get(name, []) if "knn_top1" in r}
        for s in snapshots:
            knn_cell = f"{knn[s['step']]:.3f}" if s["step"] in knn else "—"
            lines.append(f"| {name} | {s['epoch']:g} | {s['training_s'] / 3600:.2f} | {knn_cell} | "
                         + " | ".join(cell(s["probes"], f, split) for f, split in columns) + " |")  # fmt: skip
    (args.output_dir / "curve.md").write_text("\n".join(lines) + "\n")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("part", choices=["ablations", "curve"])
    parser.add_argument("--output-dir", type=Path, default=Path("results/curve"))
    parser.add_argument("--work-dir", type=Path, default=Path("runs/curve"))
    parser.add_argument("--recipe", default="demo")
    parser.add_argument("--epochs", type=int, help="ablations: 8, the recipe's; curve: 40")
    parser.add_argument("--seed", type=int, default=0, help="ablations: pretraining seed")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="curve: pretraining seeds"
    )
    parser.add_argument("--random-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--every", type=int, default=5, help="curve: epochs between snapshots")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.1])
    parser.add_argument("--subset-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--variants", nargs="+", choices=list(ABLATIONS), help="ablations: a subset"
    )
    parser.add_argument("--max-minutes", type=float, help="stop this invocation after that long")
    parser.add_argument(
        "--pretrain-args",
        nargs=argparse.REMAINDER,
        default=[],
        help="the rest: recipe fields for every run, as mocoim-pretrain takes them (e.g. "
        "--max-steps 2: a smoke run); they may differ from an existing run's",
    )
    args = parser.parse_args(argv)
    args.smoke = parse_overrides(args.pretrain_args)
    budget = Budget(args.max_minutes)
    if args.epochs is None:
        args.epochs = 40 if args.part == "curve" else PretrainRecipe.load(args.recipe).epochs
    complete = (run_ablations if args.part == "ablations" else run_curve)(args, budget)
    print(f"{args.part}: {'complete' if complete else 'not complete; rerun to continue'}; "
          f"tables in {args.output_dir}")  # fmt: skip


if __name__ == "__main__":
    try:
        main()
    except StaleRunError as error:
        sys.exit(str(error))
