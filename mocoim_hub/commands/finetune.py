"""Few-label evaluation: linear probes and/or full fine-tuning with 1 %, 10 % and 100 % of the
training labels, several seeds, several encoders on identical labelled subsets.

    mocoim-finetune --models runs/demo/model random --output-dir runs/demo/few-label
    mocoim-finetune --models org/mocoim-nih org/mocov2-nih random --dataset nih \
        --data-path /data/NIH --modes linear full --seeds 0 1 2

`random` is a randomly initialised encoder of the first model's architecture (torchvision's
initialisation, BatchNorm statistics at their defaults), the baseline every comparison needs.
Writes `results.json`, `results.md` (printed at the end) and `results.png` to --output-dir, adds
the results to the card of each model that is a local folder (README.md, eval_results.json), and
with --push-to-hub uploads the first model's folder with its updated card.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..finetune import card_evaluations, run_sweep, write_results
from ..finetune.sweep import MODES
from ..hub import add_hub_arguments, check_hub_arguments, publish
from ..model_card import save_evaluations, write_model_card
from .evaluation import (
    RANDOM,
    add_model_and_data_arguments,
    load_models_and_data,
    parse_model_spec,
)


def main(argv: Sequence[str] | None = None) -> None:
    # --- arguments --------------------------------------------------------------------------------
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_model_and_data_arguments(parser)
    parser.add_argument("--modes", nargs="+", default=["linear"], choices=MODES)
    parser.add_argument("--layer", default="layer4", help="stage whose pooled features are probed")
    parser.add_argument(
        "--ordinal", action="store_true", help="classes are ordered (adds quadratic kappa)"
    )
    parser.add_argument("--epochs", type=int, default=20, help="full fine-tuning: most epochs")
    parser.add_argument("--patience", type=int, default=5, help="full fine-tuning: early stopping")
    parser.add_argument(
        "--max-images",
        type=int,
        help="full fine-tuning: most training images seen (caps epochs per fraction)",
    )
    parser.add_argument(
        "--lr", type=float, default=1e-3, help="full fine-tuning: Adam learning rate"
    )
    parser.add_argument("--batch-size", type=int, default=64, help="full fine-tuning")
    parser.add_argument(
        "--augmentation", default="xray", help="full fine-tuning: augmentation preset"
    )
    parser.add_argument(
        "--bootstrap", type=int, default=1000, help="bootstrap replicates for the CIs"
    )
    add_hub_arguments(parser)
    args = parser.parse_args(argv)
    check_hub_arguments(args)

    # --- encoders and data ------------------------------------------------------------------------
    encoders, splits, dataset_name = load_models_and_data(args)

    # --- sweep ------------------------------------------------------------------------------------
    results = run_sweep(
        encoders,
        splits,
        dataset_name,
        fractions=args.fractions,
        seeds=args.seeds,
        modes=args.modes,
        layer=args.layer,
        cache_dir=args.output_dir / "feature_cache",
        ordinal=args.ordinal,
        n_resamples=args.bootstrap,
        fine_tune_options={
            "epochs": args.epochs,
            "patience": args.patience,
            "max_images": args.max_images,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "augmentation": args.augmentation,
            "device": args.device,
        },
    )
    paths = write_results(results, args.output_dir)

    # --- cards and publishing ---------------------------------------------------------------------
    first = Path(parse_model_spec(args.models[0])[1])
    for spec, encoder in zip(args.models, encoders, strict=True):
        folder = Path(parse_model_spec(spec)[1])
        if spec != RANDOM and folder.is_dir():
            save_evaluations(card_evaluations(results, encoder.name), folder)
            write_model_card(folder, args.hub_model_id if folder == first else None)
            print(f"added the results to the model card in {folder}")
    print(f"\nwrote {', '.join(str(p) for p in paths.values())}\n")
    print(paths["markdown"].read_text())
    if args.push_to_hub and not first.is_dir():
        sys.exit(f"--push-to-hub needs the first model to be a local folder, not {first}.")
    publish(first, args)


if __name__ == "__main__":
    main()
