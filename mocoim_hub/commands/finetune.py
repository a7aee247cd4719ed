r"""Few-label evaluation: linear probes and/or full fine-tuning with 1 %, 10 % and 100 % of the
training labels, several seeds, several encoders on identical labelled subsets.

    mocoim-finetune --models runs/demo/model random --output-dir runs/demo/few-label
    mocoim-finetune --models org/mocoim-nih org/mocov2-nih random --dataset nih \
        --data-path /data/NIH --modes linear full --seeds 0 1 2

`random` is a randomly initialised encoder of the first model's architecture (torchvision's
initialisation, BatchNorm statistics at their defaults), the baseline every comparison needs.
Writes `results.json`, `results.md` (printed at the end) and `results.png` to --output-dir and
adds the results to the card of each model that is a local folder (README.md, eval_results.json).

A classifier to keep: with `--modes full --save-model DIR`, the first model fine-tuned with the
largest fraction's labels (first seed) is saved to DIR with its processor, settings, test metrics
and card, ready for `pipeline("image-classification", model=DIR)` and the demo's Classify tab:

    mocoim-finetune --models runs/demo/model --modes full --fractions 0.1 --seeds 0 \
        --output-dir runs/demo/fine-tune --save-model runs/demo/classifier

`--compare FILE` prints this run's table beside the results of an earlier run on the same data, such
as the long recipe's measured results that a short run is a preview of:

    mocoim-finetune --models runs/demo/model random --output-dir runs/demo/few-label \
        --compare results/demo-long/results.json

--push-to-hub uploads that classifier (with --save-model) or else the first model's folder with
its updated card.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..data.adapters import ImageDataset
from ..finetune import (
    baseline_evaluations,
    card_evaluations,
    markdown_table,
    read_results,
    run_sweep,
    save_classifier,
    with_reference,
    write_results,
)
from ..finetune.report import RESULT_FILES
from ..finetune.sweep import MODES, Encoder, SweepResults
from ..manifest import ForeignFilesError, check_ours, record
from ..model_card import save_evaluations, write_model_card
from ..results import percent
from .arguments import add_hub_arguments, check_hub_arguments, publish
from .evaluation import (
    RANDOM,
    add_model_and_data_arguments,
    check_output_dir,
    data_flags_of,
    demo_command,
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
    parser.add_argument(
        "--save-model",
        type=Path,
        help="save the first model's classifier fine-tuned with the largest fraction (first seed) "
        "here (needs --modes full)",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        help="a results.json measured earlier on the same dataset, printed beside this run's",
    )
    add_hub_arguments(parser)
    args = parser.parse_args(argv)
    check_hub_arguments(parser, args)
    reference = load_reference(args.compare, parser) if args.compare else None
    if args.save_model and "full" not in args.modes:
        parser.error("--save-model keeps a fine-tuned classifier: add --modes full.")
    keep = (max(args.fractions), args.seeds[0]) if args.save_model else None
    check_output_dir(
        args, list(RESULT_FILES.values()), parser
    )  # refused now, not after the fine-tuning
    if args.save_model:
        try:
            check_ours(args.save_model, "the classifier", args.force)
        except ForeignFilesError as error:
            parser.exit(1, f"{error}\n")

    # --- encoders and data ------------------------------------------------------------------------
    encoders, splits, dataset_name = load_models_and_data(args)
    if reference is not None and reference.dataset != dataset_name:
        parser.error(f"--compare: {args.compare} was measured on {reference.dataset}, this run "
                     f"evaluates on {dataset_name}; compare runs on the same dataset.")  # fmt: skip

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
        fine_tune_options={**fine_tune_settings(args), "device": args.device},
        keep=keep,
    )
    paths = write_results(results, args.output_dir)
    record(args.output_dir, paths.values())

    # --- cards and publishing ---------------------------------------------------------------------
    first = Path(parse_model_spec(args.models[0])[1])
    for spec, encoder in zip(args.models, encoders, strict=True):
        folder = Path(parse_model_spec(spec)[1])
        if spec != RANDOM and folder.is_dir():
            baselines = baseline_evaluations(results, encoder.name)  # measured beside it
            replaced = save_evaluations(card_evaluations(results, encoder.name), folder, baselines)
            for line in replaced:
                print(f"replaced the earlier result on the card of {folder}: {line}")
            own_card = folder == first and not args.save_model  # else the id is the classifier's
            write_model_card(folder, args.hub_model_id if own_card else None)
            print(f"added the results to the model card in {folder}")
    print(f"\nwrote {', '.join(str(p) for p in paths.values())}\n")
    print(paths["markdown"].read_text())
    if reference is not None:
        print(f"Beside the results in {args.compare} (rows marked 'reference'):\n")
        print(markdown_table(with_reference(results, reference, "reference")))
    if args.save_model:
        save_kept_classifier(results, encoders[0], splits["test"], keep, args)
        print(f"saved the classifier (1 of the runs above: {percent(keep[0])} labels, seed "
              f"{keep[1]}) with its test metrics and card to {args.save_model}")  # fmt: skip
        publish(args.save_model, args)
    else:
        if args.push_to_hub and not first.is_dir():
            sys.exit(f"--push-to-hub needs the first model to be a local folder, not {first}.")
        publish(first, args)
    shown = args.save_model or first
    print(f"\nNext:\n  {demo_command(str(shown))}   # the Gradio demo on {shown}\n"
          f"  mocoim-analyze --models {args.models[0]} random{data_flags_of(args)} --output-dir "
          f"{args.output_dir.parent / 'analysis'}   # CKA, layer-wise probing, KS")  # fmt: skip


def load_reference(path: Path, parser: argparse.ArgumentParser) -> SweepResults:
    """The --compare results, read before the sweep so that a wrong path costs no training."""
    try:
        return read_results(path)
    except (FileNotFoundError, ValueError) as error:
        parser.error(f"--compare: {error}")


def fine_tune_settings(args: argparse.Namespace) -> dict:
    """The options of `fine_tune` given on the command line."""
    names = ("epochs", "patience", "max_images", "lr", "batch_size", "augmentation")
    return {name: getattr(args, name) for name in names}


def save_kept_classifier(
    results: SweepResults,
    encoder: Encoder,
    test: ImageDataset,
    keep: tuple[float, int],
    args: argparse.Namespace,
) -> None:
    """Save the classifier `run_sweep` kept, with its settings, test metrics and card."""
    fraction, seed = keep
    run = next(r for r in results.runs if (r.model, r.mode, r.label_fraction, r.seed)
               == (encoder.name, "full", fraction, seed))  # fmt: skip
    settings = {"encoder": parse_model_spec(args.models[0])[1], "seed": seed,
                "train_images": run.train_images, "ordinal": args.ordinal,
                **fine_tune_settings(args), **run.chosen}  # fmt: skip
    save_classifier(results.classifier.model, encoder.processor, args.save_model, test=test,
                    dataset=results.dataset, label_fraction=fraction, settings=settings,
                    ordinal=args.ordinal, n_resamples=args.bootstrap, repo_id=args.hub_model_id,
                    force=args.force)  # fmt: skip


if __name__ == "__main__":
    main()
