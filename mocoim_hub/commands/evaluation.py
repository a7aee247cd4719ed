"""Command-line plumbing the evaluation commands share (`mocoim-finetune`, `mocoim-analyze`):
which models, which dataset, which label fractions and seeds."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence
from pathlib import Path

import torch

from ..data.adapters import ImageDataset
from ..data.kinds import CUSTOM_DATASET, DATASETS, card_info, open_dataset
from ..demo import DEFAULT_MODEL
from ..finetune.sweep import DEFAULT_FRACTIONS, Encoder
from ..sources import check_model_source

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
    parser.add_argument("--dataset", default="default", choices=list(DATASETS), help="dataset kind")
    parser.add_argument("--data-path", help="where the dataset is (not needed for default)")
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


def parse_model_spec(spec: str) -> tuple[str, str]:
    """`NAME=SOURCE`, or SOURCE with a name derived from it (`runs/demo/model` -> `demo`)."""
    if "=" in spec:
        name, _, source = spec.partition("=")
        return name, source
    path = Path(spec)
    if path.is_dir():
        return (path.parent.name if path.name == "model" else path.name), spec
    return spec.split("/")[-1], spec


def load_encoders(specs: Sequence[str], device: str = "cpu") -> list[Encoder]:
    """Encoders from command-line specs; `random` is a random-init baseline of the first model's
    architecture."""
    if not specs or specs[0] == RANDOM:
        raise SystemExit(
            f"The first model must be a folder or Hub id ('{RANDOM}' copies its architecture)."
        )
    for spec in specs:  # every path checked before the first model loads
        if spec != RANDOM:
            check_model_source(parse_model_spec(spec)[1])
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
    """The encoders, the dataset's splits and the dataset's display name."""
    encoders = load_encoders(args.models, args.device)
    splits = open_dataset(args.dataset, args.data_path)
    info = card_info(args.dataset)
    name = args.dataset if info is CUSTOM_DATASET else info.name
    return encoders, splits, name


def demo_command(model: str) -> str:
    """The command that opens the Gradio demo on `model` (a folder or Hub id)."""
    app = "python app.py" if Path("app.py").is_file() else "python -m mocoim_hub.app"
    return app if model == DEFAULT_MODEL else f"{app} --model {shlex.quote(str(model))}"
