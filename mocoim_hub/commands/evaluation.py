"""Command-line plumbing the evaluation commands share (`mocoim-finetune`, `mocoim-analyze`):
which models, which dataset, which label fractions and seeds."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence
from pathlib import Path

import torch

from ..data.adapters import ImageDataset
from ..data.kinds import (
    DATA_PATH_HELP,
    DATASETS,
    TABLE_OPTIONS,
    data_name,
    kind_for,
    kinds_help,
    open_dataset,
)
from ..data.summary import SPLITS_FILE, SUMMARY_FILE, DataSummary, summarize, write_data_record
from ..demo import DEFAULT_MODEL
from ..finetune.sweep import DEFAULT_FRACTIONS, Encoder
from ..manifest import ForeignFilesError, check_ours, record, unclaimed
from ..sources import check_model_source
from .arguments import data_flags

RANDOM = "random"


def add_model_and_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models",
        nargs="+",
        required=True,
        help=f"model folders or Hub ids (NAME=SOURCE to name them), or '{RANDOM}' "
        "for a random-init baseline of the first model's architecture",
    )
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument(
        "--force", action="store_true",
        help="let this program replace files in --output-dir (or --save-model) it did not write",
    )  # fmt: skip
    add_data_arguments(parser)
    parser.add_argument(
        "--fractions",
        type=float,
        nargs="+",
        default=list(DEFAULT_FRACTIONS),
        help="shares of the training labels",
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2], help="labelled-subset seeds"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Which images: `--data-path` (a folder, a glob or a CSV/TSV file) and how to read it."""
    group = parser.add_argument_group("data (default: the embedded dataset)")
    group.add_argument("--data-path", help=DATA_PATH_HELP)
    group.add_argument("--dataset", choices=[k for k in DATASETS if k != "python"],
                       help=f"dataset kind, inferred from --data-path when left out: {kinds_help()}")  # fmt: skip
    for name, text in TABLE_OPTIONS.items():
        flag = "--" + name.replace("_", "-")
        group.add_argument(flag, nargs="+" if name == "labels" else None, help=text)
    group.add_argument("--dataset-name", help="what results and cards call the data (default: "
                       "the folder's name)")  # fmt: skip
    group.add_argument("--on-bad-image", choices=("error", "skip"), default="error",
                       help="an unreadable image stops the run (error) or is skipped and counted")  # fmt: skip


def open_data_arguments(
    args: argparse.Namespace,
) -> tuple[dict[str, ImageDataset], str, DataSummary]:
    """The splits of the data the arguments name, the data's name and what was read (printed).
    Bad data exits with one line."""
    options = {name: getattr(args, name) for name in TABLE_OPTIONS}
    try:
        kind = kind_for(args.dataset, args.data_path)
        splits = open_dataset(kind, args.data_path, options, on_bad_image=args.on_bad_image)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(str(error)) from None
    summary = summarize(splits, kind, args.data_path)
    print(summary)
    args.dataset = kind  # as read, so that the next command suggested names it without inferring
    return splits, args.dataset_name or data_name(kind, args.data_path), summary


def data_flags_of(args: argparse.Namespace) -> str:
    """The data flags of these arguments (after `open_data_arguments`), to repeat in the next
    command suggested."""
    options = {name: getattr(args, name) for name in TABLE_OPTIONS}
    return data_flags(args.dataset, args.data_path, options)


def parse_model_spec(spec: str) -> tuple[str, str]:
    """`NAME=SOURCE`, or SOURCE with a name derived from it (`runs/demo/model` -> `demo`)."""
    if "=" in spec:
        name, _, source = spec.partition("=")
        return name, source
    path = Path(spec)
    if path.is_dir():
        return (path.parent.name if path.name == "model" else path.name), spec
    return spec.split("/")[-1], spec


def check_model_specs(specs: Sequence[str]) -> None:
    """Exit with one line unless the first spec is a model and every path names a folder."""
    if not specs or specs[0] == RANDOM:
        raise SystemExit(
            f"The first model must be a folder or Hub id ('{RANDOM}' copies its architecture)."
        )
    for spec in specs:  # every path checked before the first model loads
        if spec != RANDOM:
            check_model_source(parse_model_spec(spec)[1])


def load_encoders(specs: Sequence[str], device: str = "cpu") -> list[Encoder]:
    """Encoders from command-line specs; `random` is a random-init baseline of the first model's
    architecture."""
    check_model_specs(specs)
    encoders: list[Encoder] = []
    for spec in specs:
        if spec == RANDOM:
            encoders.append(Encoder.random_init(encoders[0].model))
        else:
            encoders.append(Encoder.from_pretrained(*parse_model_spec(spec)))
        encoders[-1].model.to(device)
    return encoders


def load_models_and_data(
    args: argparse.Namespace,
) -> tuple[list[Encoder], dict[str, ImageDataset], str]:
    """The encoders, the dataset's splits and the dataset's display name. Model paths are
    checked, then the data read (a wrong path costs no model loading); what was read is written to
    the output folder (data.json, splits.csv) once everything has loaded."""
    check_model_specs(args.models)
    splits, name, summary = open_data_arguments(args)
    encoders = load_encoders(args.models, args.device)
    record(args.output_dir, write_data_record(splits, summary, args.output_dir, split_seed=0))
    return encoders, splits, name


def check_output_dir(
    args: argparse.Namespace, names: Sequence[str], parser: argparse.ArgumentParser
) -> None:
    """Refuse, before anything is loaded or written, an --output-dir holding any of `names` (or
    the data record) that this package did not write or that changed since, unless --force.
    What the program writes there is recorded, so a later run may write it again."""
    foreign = unclaimed(args.output_dir, [*names, SUMMARY_FILE, SPLITS_FILE])
    try:
        check_ours(args.output_dir, "the results", args.force, foreign)
    except ForeignFilesError as error:
        parser.exit(1, f"{error}\n")


def demo_command(model: str) -> str:
    """The command that opens the Gradio demo on `model` (a folder or Hub id)."""
    app = "python app.py" if Path("app.py").is_file() else "python -m mocoim_hub.app"
    return app if model == DEFAULT_MODEL else f"{app} --model {shlex.quote(str(model))}"
