"""Embed images with a MoCo-IM encoder: pooled features of chosen layers, saved as .npz.

    mocoim-extract --model org/mocoim-nih chest1.png chest2.dcm
    mocoim-extract --model runs/demo/model my_images/ 'scans/**/IM*' labels.csv --skip-bad-images
    mocoim-extract --init resnet18 --save-model runs/random-resnet18

Images are named as everywhere else: files, folders (walked recursively, DICOM with or without a
suffix), globs and CSV/TSV files (their --image-column).

Without image paths it embeds the real medical images that installed packages ship (a fundus
photograph, an immunohistochemistry slide and a CT slice) and prints their cosine similarities.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .. import MocoImConfig, MocoImImageProcessor, MocoImModel
from ..configuration_mocoim import BACKBONES, STAGE_NAMES
from ..data.adapters import SKIP_HINT
from ..data.files import image_files
from ..examples import example_images
from ..features import embed_images


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="MoCo-IM folder or Hub id")
    source.add_argument("--init", choices=list(BACKBONES), help="a randomly initialised encoder")
    parser.add_argument(
        "images", nargs="*",
        help="image or DICOM files, folders, globs or CSV/TSV files (default: bundled examples)",
    )  # fmt: skip
    parser.add_argument(
        "--image-column", default="image", help="column of image paths in a CSV/TSV file"
    )
    parser.add_argument("--num-channels", type=int, default=1, choices=(1, 3), help="with --init")
    parser.add_argument("--image-size", type=int, default=224, help="with --init")
    parser.add_argument("--layers", nargs="+", default=list(STAGE_NAMES[1:]), help="stages to pool")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--save-model", type=Path, help="also save the encoder and processor here")
    parser.add_argument("--output", type=Path, default=Path("features.npz"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compile", action="store_true", help="torch.compile the encoder")
    parser.add_argument(
        "--skip-bad-images",
        action="store_true",
        help="give unreadable files a row of NaN instead of stopping",
    )
    return parser.parse_args(argv)


def load_encoder(args: argparse.Namespace) -> tuple[MocoImModel, MocoImImageProcessor]:
    if args.model:
        return MocoImModel.from_pretrained(args.model), MocoImImageProcessor.from_pretrained(
            args.model
        )
    torch.manual_seed(args.seed)
    config = MocoImConfig(
        backbone=args.init, num_channels=args.num_channels, image_size=args.image_size
    )
    return MocoImModel(config), MocoImImageProcessor.from_model_config(config)


def named_images(locations: Sequence[str], image_column: str) -> dict[str, Path]:
    """The image files the arguments name, by path, after printing how many were found."""
    paths, listing = image_files(locations, image_column)
    ignored = f"; {listing.ignored} other file(s) ignored" if listing.ignored else ""
    print(f"read {len(paths)} images ({listing.dicom} DICOM) from {listing.location}{ignored}")
    return {str(path): path for path in paths}


def cosine_similarities(features: np.ndarray) -> np.ndarray:
    unit = features / np.linalg.norm(features, axis=1, keepdims=True).clip(1e-12)
    return unit @ unit.T


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    model, processor = load_encoder(args)
    if args.save_model:
        model.save_pretrained(args.save_model)
        processor.save_pretrained(args.save_model)
        print(f"saved encoder + image processor to {args.save_model}")
    try:
        images = named_images(args.images, args.image_column) if args.images else example_images()
    except (FileNotFoundError, ValueError) as error:
        sys.exit(str(error))
    try:
        features = embed_images(model, processor, list(images.values()), layers=args.layers,
                                batch_size=args.batch_size, compile=args.compile,
                                on_bad_image="skip" if args.skip_bad_images else "error")  # fmt: skip
    except ValueError as error:
        sys.exit(str(error).replace(SKIP_HINT, "pass --skip-bad-images"))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.output, names=np.array(list(images), dtype=str), **features)
    print(f"wrote {', '.join(f'{k} {v.shape}' for k, v in features.items())} to {args.output}")
    deepest = list(features)[-1]
    skipped = [
        str(n) for n, row in zip(images, features[deepest], strict=True) if np.isnan(row).any()
    ]
    if skipped:
        print(f"skipped {len(skipped)} unreadable file(s), rows of NaN: {', '.join(skipped)}")

    names = [Path(str(name)).name for name in images]
    print(f"\ncosine similarity of {deepest} embeddings:")
    print(" " * 22 + "".join(f"{n[:12]:>14}" for n in names))
    for name, row in zip(names, cosine_similarities(features[deepest]), strict=True):
        print(f"{name[:20]:<22}" + "".join(f"{v:14.3f}" for v in row))


if __name__ == "__main__":
    main()
