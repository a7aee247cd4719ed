"""Scaled-down reproduction of the paper's claim on a recipe's dataset (for `demo`, the embedded
default one): MoCo, MoCo+MSE and MoCo+Barlow-Twins pretrained with the same budget (the recipe)
and several seeds, then linear probes and full fine-tuning with 1 %, 10 % and 100 % of the labels
against random init, layer-wise probing and CKA, all on the recipe's data. About 3 hours on 2 CPU
cores; `--quick` is a smoke run of minutes.

    python training/reproduce.py                    # writes results/reproduction/
    python training/reproduce.py --quick --output-dir runs/reproduction-quick

Pretraining runs go to --work-dir (one run each, trained in this process, logged to its folder's
`pretrain.log`); a finished run is reused and an interrupted one resumed, so the study can be
restarted. Writes
`results.json` (every probe and fine-tuning run, and the summary over pretraining seeds),
`results.md`, `results.png`, `gains.md`, `probing.png`, `cka_*.png` and `study.json`.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mocoim_hub.analysis import cka_matrix, layerwise_probing, plot_cka, plot_probing, probing_table
from mocoim_hub.configuration_mocoim import STAGE_NAMES
from mocoim_hub.data.splits import few_label_subset
from mocoim_hub.finetune import (
    PRIMARY_METRIC,
    Encoder,
    SweepResults,
    extract_features,
    run_sweep,
    write_results,
)
from mocoim_hub.pretraining import PretrainRecipe
from mocoim_hub.pretraining.metrics import read_metrics

from studies.runs import (
    METHODS,
    RANDOM,
    Budget,
    StaleRunError,
    method_of,
    recipe_splits,
    run_name,
    train,
)
from studies.summaries import (
    best_encoder,
    differences,
    differences_table,
    over_seeds,
    probing_over_seeds,
)

QUICK = {"max_steps": 2, "batch_size": 64, "log_every": 1, "num_workers": 0}  # a smoke run


def main(argv: Sequence[str] | None = None) -> None:
    # --- arguments --------------------------------------------------------------------------------
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output-dir", type=Path, default=Path("results/reproduction"))
    parser.add_argument(
        "--work-dir", type=Path, help="pretraining runs (default: runs/<output name>)"
    )
    parser.add_argument("--recipe", default="demo", help="the base recipe every method shares")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="pretraining seeds")
    parser.add_argument(
        "--subset-seeds",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        help="labelled-subset seeds of the linear probes (fine-tuning uses the first)",
    )
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    parser.add_argument(
        "--max-images",
        type=int,
        default=10_000,
        help="fine-tuning budget: training images seen, at most 20 epochs",
    )
    parser.add_argument("--cka-examples", type=int, default=2000)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 seeds, 2 pretraining steps, at most 1000 train and 200 other images",
    )
    args = parser.parse_args(argv)
    smoke = QUICK if args.quick else {}
    if args.quick:
        args.seeds, args.subset_seeds, args.max_images, args.cka_examples = (
            args.seeds[:2], [0, 1], 200, 200
        )  # fmt: skip
    work_dir = args.work_dir or Path("runs") / args.output_dir.name
    args.output_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    # --- pretraining: every method × seed, resumable ---------------------------------------------
    runs = [(method, seed) for method in METHODS for seed in args.seeds]
    for method, seed in tqdm(runs, desc="pretraining", unit="run"):
        folder = work_dir / run_name(method, seed)
        overrides = {**METHODS[method], "seed": seed, **smoke}
        train(folder, args.recipe, overrides, Budget(None), ignored=smoke)
    # each run's own training time: a study resumed in a later session still adds up
    pretrain_times = {
        run_name(m, s): read_metrics(work_dir / run_name(m, s) / "metrics.jsonl")[-1]["training_s"]
        for m, s in runs
    }
    timings["pretraining_s"] = sum(pretrain_times.values())

    # --- encoders and data ------------------------------------------------------------------------
    encoders = [
        Encoder.from_pretrained(run_name(m, s), str(work_dir / run_name(m, s) / "model"))
        for m, s in runs
    ]
    encoders += [
        Encoder.random_init(encoders[0].model, seed, run_name(RANDOM, seed)) for seed in args.seeds
    ]
    splits, dataset_name = recipe_splits(PretrainRecipe.load(args.recipe))
    if args.quick:  # at most 1000 train and 200 other images, stratified
        cap = {"train": 1000}
        splits = {
            name: split.subset(few_label_subset(
                split.labels, min(1.0, cap.get(name, 200) / len(split)), seed=0))
            for name, split in splits.items()
        }  # fmt: skip
    cache = work_dir / "feature_cache"

    # --- few-label evaluation: linear probes (every subset seed) and fine-tuning (the first) ------
    begin = time.perf_counter()
    linear = run_sweep(
        encoders,
        splits,
        dataset_name,
        args.fractions,
        args.subset_seeds,
        ["linear"],
        cache_dir=cache,
        n_resamples=200,
    )
    timings["linear_s"] = time.perf_counter() - begin
    begin = time.perf_counter()
    full = run_sweep(
        encoders,
        splits,
        dataset_name,
        args.fractions,
        args.subset_seeds[:1],
        ["full"],
        n_resamples=200,
        fine_tune_options={"epochs": 20, "patience": 5, "max_images": args.max_images},
    )
    timings["fine_tuning_s"] = time.perf_counter() - begin
    sweep = SweepResults(
        linear.task, dataset_name, linear.runs + full.runs, linear.summary + full.summary
    )
    study = over_seeds(sweep)
    paths = write_results(study, args.output_dir)
    metric = PRIMARY_METRIC[study.task]
    gains = {baseline: differences(sweep, baseline, metric) for baseline in ("moco", RANDOM)}
    (args.output_dir / "gains.md").write_text(
        "\n".join(
            f"Test {metric}: difference of the means over pretraining seeds, 95 % bootstrap "
            f"interval over seeds (bold: excludes 0).\n\n{differences_table(rows)}"
            for rows in gains.values()
        )
    )

    # --- layer-wise probing with 1 % of the labels ------------------------------------------------
    begin = time.perf_counter()
    probes = layerwise_probing(
        encoders,
        splits,
        fractions=[args.fractions[0]],
        seeds=args.subset_seeds,
        cache_dir=cache,
        n_resamples=200,
    )
    probing = probing_over_seeds(probes)
    plot_probing(probing, args.output_dir / "probing.png")
    timings["probing_s"] = time.perf_counter() - begin

    # --- CKA: each method against MoCo, per seed; MoCo against MoCo of the next seed as control ---
    begin = time.perf_counter()
    test = splits["test"]
    rows = np.random.default_rng(0).permutation(len(test))[: args.cka_examples]
    by_name = {e.name: e for e in encoders}

    def test_features(name: str) -> dict[str, np.ndarray]:
        encoder = by_name[name]
        features = extract_features(
            encoder.model,
            test,
            layers=list(STAGE_NAMES),
            progress=False,
            processor=encoder.processor,
            cache_dir=cache,
        )
        return {layer: features[layer][rows] for layer in STAGE_NAMES}

    seeds = args.seeds
    pairs = {
        f"{other} vs moco": [(run_name("moco", s), run_name(other, s)) for s in seeds]
        for other in [*list(METHODS)[1:], RANDOM]
    }
    pairs["moco vs moco, next seed"] = [
        (run_name("moco", s), run_name("moco", seeds[(i + 1) % len(seeds)]))
        for i, s in enumerate(seeds)
    ]
    cka: dict[str, list[list[list[float]]]] = {}
    for label, members in tqdm(pairs.items(), desc="CKA", unit="pair"):
        matrices = [cka_matrix(test_features(a), test_features(b), "linear") for a, b in members]
        cka[label] = [m.tolist() for m in matrices]
        a, b = members[0]
        plot_cka(
            matrices[0],
            STAGE_NAMES,
            STAGE_NAMES,
            f"linear CKA, {len(rows)} test images",
            args.output_dir / f"cka_{b}_vs_{a}.png",
            row_label=a,
            column_label=b,
        )
    timings["cka_s"] = time.perf_counter() - begin
    # the parts, with each pretraining run's own time: a study resumed later still adds up
    timings["total_s"] = sum(timings.values())

    # --- report -----------------------------------------------------------------------------------
    best = best_encoder(sweep, metric, METHODS)
    diagonals = {
        label: np.mean([np.diag(m) for m in ms], axis=0).round(3).tolist()
        for label, ms in cka.items()
    }
    report = {
        "command": shlex.join(
            ["python", "training/reproduce.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "recipe": args.recipe,
        "methods": METHODS,
        "seeds": args.seeds,
        "subset_seeds": args.subset_seeds,
        "fine_tuning_max_images": args.max_images,
        "quick": args.quick,
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "pretraining_training_s": pretrain_times,
        "best_encoder": {
            "name": best,
            "method": method_of(best),
            "chosen_by": f"mean validation {metric}",
        },
        "gains": {baseline: [vars(r) for r in rows] for baseline, rows in gains.items()},
        "probing": [vars(r) for r in probing],
        "probing_per_encoder": [vars(r) for r in probes],
        "cka_linear": {
            "layers": list(STAGE_NAMES),
            "examples": len(rows),
            "matrices": cka,
            "mean_diagonal": diagonals,
        },
    }
    (args.output_dir / "study.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        paths["markdown"].read_text(),
        (args.output_dir / "gains.md").read_text(),
        f"Layer-wise probing, {args.fractions[0] * 100:g} % labels "
        "(mean over pretraining seeds):\n",
        probing_table(probing),
        "Linear CKA on the same layer, mean over seeds:\n",
        "| pair | " + " | ".join(STAGE_NAMES) + " |",
        "|---|" + "---|" * len(STAGE_NAMES),
    ]
    lines += [
        f"| {label} | " + " | ".join(f"{v:.3f}" for v in d) + " |" for label, d in diagonals.items()
    ]
    lines += [
        "",
        f"Best encoder by validation {metric}: {best}.",
        f"Runtime: {timings['total_s'] / 60:.1f} min ({json.dumps(report['timings_s'])}).",
    ]
    (args.output_dir / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    try:
        main()
    except StaleRunError as error:
        sys.exit(str(error))
