r"""The paper's analyses of two encoders on a dataset's test split: CKA between their layers,
layer-wise linear probing (with a random-init control), and KS distance between the output
distributions of probes trained with few vs all labels.

    mocoim-analyze --models runs/demo/model random --output-dir runs/demo/analysis
    mocoim-analyze --models mse=runs/nih-mse/model plain=runs/nih-moco/model random \
        --dataset nih --data-path /data/NIH --cka-examples 5000

The first two --models are compared by CKA; every model given is probed layer by layer (add
`random` for the control). Writes `cka_linear.png`, `cka_rbf.png`, `probing.png`, `analysis.json`
and `analysis.md` (printed at the end) to --output-dir.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

import numpy as np

from ..analysis import (
    cka_matrix,
    ks_distance,
    layerwise_probing,
    plot_cka,
    plot_probing,
    probing_rows,
    probing_table,
)
from ..configuration_mocoim import STAGE_NAMES
from ..finetune import extract_features, labelled_subsets, linear_probe, task_of
from ..manifest import record
from .evaluation import (
    add_model_and_data_arguments,
    check_output_dir,
    demo_command,
    load_models_and_data,
    parse_model_spec,
)

OUTPUT_FILES = ("cka_linear.png", "cka_rbf.png", "probing.png", "analysis.json", "analysis.md")


def main(argv: Sequence[str] | None = None) -> None:
    # --- arguments --------------------------------------------------------------------------------
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_model_and_data_arguments(parser)
    parser.add_argument("--cka-examples", type=int, default=2000, help="test images used for CKA")
    parser.add_argument("--rbf-sigma", type=float, help="absolute RBF bandwidth (the authors: 0.8)")
    parser.add_argument(
        "--rbf-fraction",
        type=float,
        default=0.5,
        help="RBF bandwidth as a fraction of the median distance (default)",
    )
    parser.add_argument(
        "--ks-fractions",
        type=float,
        nargs=2,
        default=[0.01, 1.0],
        help="label fractions of the two probes whose outputs KS compares",
    )
    parser.add_argument(
        "--bootstrap", type=int, default=1000, help="bootstrap replicates for the CIs"
    )
    args = parser.parse_args(argv)
    if len(args.models) < 2:
        parser.error("give at least two --models (e.g. a model and 'random').")
    check_output_dir(args, OUTPUT_FILES, parser)

    # --- models, data and features ----------------------------------------------------------------
    encoders, splits, dataset_name = load_models_and_data(args)
    cache = args.output_dir / "feature_cache"
    features = {
        encoder.name: {
            split: extract_features(
                encoder.model,
                data,
                layers=list(STAGE_NAMES),
                processor=encoder.processor,
                cache_dir=cache,
            )
            for split, data in splits.items()
        }
        for encoder in encoders
    }

    # --- CKA between the first two models ---------------------------------------------------------
    first, second = encoders[0].name, encoders[1].name
    rows = np.random.default_rng(0).permutation(len(splits["test"]))[: args.cka_examples]
    subset = {
        name: {layer: f["test"][layer][rows] for layer in STAGE_NAMES}
        for name, f in features.items()
    }
    rbf_options = (
        {"sigma": args.rbf_sigma} if args.rbf_sigma else {"sigma_fraction": args.rbf_fraction}
    )
    cka = {
        "linear": cka_matrix(subset[first], subset[second], "linear"),
        "rbf": cka_matrix(subset[first], subset[second], "rbf", **rbf_options),
    }
    for kind, matrix in cka.items():
        title = f"{kind} CKA, {len(rows)} test images\n{dataset_name}"
        plot_cka(
            matrix,
            STAGE_NAMES,
            STAGE_NAMES,
            title,
            args.output_dir / f"cka_{kind}.png",
            row_label=first,
            column_label=second,
        )

    # --- layer-wise probing -----------------------------------------------------------------------
    probing = layerwise_probing(
        encoders,
        splits,
        fractions=args.fractions,
        seeds=args.seeds,
        cache_dir=cache,
        n_resamples=args.bootstrap,
    )
    plot_probing(probing, args.output_dir / "probing.png")

    # --- KS distance: probes with few vs all labels -----------------------------------------------
    train, validation = splits["train"], splits["validation"]
    task = task_of(train.labels, len(train.label_names))
    few, full = args.ks_fractions
    subsets = labelled_subsets(train, [few, full], [args.seeds[0]])
    ks = {}
    for encoder in encoders:
        layer4 = {split: f["layer4"] for split, f in features[encoder.name].items()}
        outputs = [
            linear_probe(
                layer4["train"][subsets[fraction, args.seeds[0]]],
                train.labels[subsets[fraction, args.seeds[0]]],
                layer4["validation"],
                validation.labels,
                task,
            ).scores(layer4["test"])
            for fraction in (few, full)
        ]
        names = train.label_names if task != "binary" else [train.label_names[1]]
        ks[encoder.name] = ks_distance(*outputs, class_names=names)

    # --- report -----------------------------------------------------------------------------------
    report = {
        "dataset": dataset_name,
        "cka": {
            "models": [first, second],
            "layers": list(STAGE_NAMES),
            "examples": len(rows),
            "rbf": rbf_options,
            **{kind: m.tolist() for kind, m in cka.items()},
        },
        "probing": probing_rows(probing),
        "ks": {"fractions": [few, full], **{name: vars(d) for name, d in ks.items()}},
    }
    (args.output_dir / "analysis.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"# Analyses on {dataset_name}\n",
        f"## Linear CKA, {first} (rows) vs {second} (columns), {len(rows)} test images\n",
        "| | " + " | ".join(STAGE_NAMES) + " |",
        "|---|" + "---|" * len(STAGE_NAMES),
    ]
    lines += [
        f"| {layer} | " + " | ".join(f"{v:.3f}" for v in row) + " |"
        for layer, row in zip(STAGE_NAMES, cka["linear"], strict=True)
    ]
    lines += ["", f"## Layer-wise probing (test {probing[0].metric})\n", probing_table(probing)]
    lines += [
        f"## KS distance between the test outputs of probes with {few * 100:g} % and "
        f"{full * 100:g} % of the labels (mean over classes)\n",
        "| model | KS |",
        "|---|---|",
    ]
    lines += [f"| {name} | {d.mean:.3f} |" for name, d in ks.items()]
    (args.output_dir / "analysis.md").write_text("\n".join(lines) + "\n")
    record(args.output_dir, OUTPUT_FILES)
    print("\n".join(lines))
    print(f"\nwrote {', '.join(OUTPUT_FILES)} to {args.output_dir}")
    model = parse_model_spec(args.models[0])[1]
    print(f"Next: {demo_command(model)}   # the Gradio demo on {model}")


if __name__ == "__main__":
    main()
