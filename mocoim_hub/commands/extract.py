"""Embed images with a MoCo-IM encoder into a folder of shards (resumable, bounded memory).

    mocoim-extract --model org/mocoim-nih chest1.png chest2.dcm --output embeddings
    mocoim-extract --model runs/demo/model my_images/ 'scans/**/IM*' labels.csv --skip-bad-images
    mocoim-extract --model runs/demo/model archive/ --device cuda --precision bf16 --resume
    torchrun --nproc-per-node 4 -m mocoim_hub.commands.extract --model runs/demo/model archive/
    mocoim-extract --init resnet18 --save-model runs/random-resnet18

Images are named as everywhere else: files, folders (walked recursively, DICOM with or without a
suffix), globs and CSV/TSV files (their --image-column). Without image paths it embeds the real
medical images that installed packages ship (a fundus photograph, an immunohistochemistry slide
and a CT slice).

The output folder holds `index.csv` (path, row, status, reason), `shards/NNNNN.<layer>.npy`
(float32, memory-mappable) and `embeddings.json`; read it back with
`mocoim_hub.archive.Embeddings(folder)`. A killed run continues with --resume after its last
complete shard; under torchrun each process embeds its share of the shards.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from .. import MocoImConfig, MocoImImageProcessor, MocoImModel
from ..archive import Embeddings, default_device, embed_archive
from ..configuration_mocoim import BACKBONES, STAGE_NAMES
from ..data.adapters import SKIP_HINT
from ..data.files import image_files
from ..examples import example_images
from ..manifest import replace_folder
from ..precision import PRECISIONS


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
    parser.add_argument(
        "--layers", nargs="+", default=["layer4"], choices=STAGE_NAMES, help="stages to pool"
    )
    parser.add_argument("--output", type=Path, default=Path("embeddings"), help="output folder")
    parser.add_argument("--resume", action="store_true", help="finish the run in --output")
    parser.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: the GPU if any)")
    parser.add_argument("--precision", default="fp32", choices=list(PRECISIONS))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--num-workers", type=int, help="decoding processes (default: CPUs, at most 8)"
    )
    parser.add_argument("--shard-size", type=int, default=4096, help="images per shard")
    parser.add_argument(
        "--similarity", type=Path, help="also write the cosine similarities of the deepest layer"
    )
    parser.add_argument("--save-model", type=Path, help="also save the encoder and processor here")
    parser.add_argument(
        "--force", action="store_true", help="let --save-model replace files not written here"
    )
    parser.add_argument("--seed", type=int, default=0, help="of the --init weights")
    parser.add_argument("--compile", action="store_true", help="torch.compile the encoder")
    parser.add_argument(
        "--skip-bad-images",
        action="store_true",
        help="give unreadable files a row of NaN and their reason in index.csv instead of stopping",
    )
    args = parser.parse_args(argv)
    if args.output.suffix == ".npz":
        parser.error(f"--output names a folder (shards and index.csv), got {args.output}")
    return args


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


def save_encoder(model: MocoImModel, processor: MocoImImageProcessor, folder: Path) -> None:
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


def named_images(locations: Sequence[str], image_column: str) -> list[Path]:
    """The image files the arguments name, after printing how many were found."""
    paths, listing = image_files(locations, image_column)
    ignored = f"; {listing.ignored} other file(s) ignored" if listing.ignored else ""
    print(f"read {len(paths)} images ({listing.dicom} DICOM) from {listing.location}{ignored}")
    return paths


def write_similarities(embeddings: Embeddings, layer: str, path: Path) -> None:
    """Cosine similarities of the embedded images as a CSV matrix with their paths."""
    ok = embeddings.ok
    features = embeddings.layer(layer)[ok]
    unit = features / np.linalg.norm(features, axis=1, keepdims=True).clip(1e-12)
    names = [p for p, good in zip(embeddings.paths, ok, strict=True) if good]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["path", *names])
        for name, row in zip(names, unit @ unit.T, strict=True):
            writer.writerow([name, *(f"{value:.4f}" for value in row)])


def report(embeddings: Embeddings, output: Path) -> None:
    layers = ", ".join(f"{n} ({len(embeddings)}, {w})" for n, w in
                       zip(embeddings.layers, embeddings.manifest["widths"], strict=True))  # fmt: skip
    print(
        f"embedded {int(embeddings.ok.sum())} of {len(embeddings)} images into {output}: {layers}"
    )
    skipped = [p for p, good in zip(embeddings.paths, embeddings.ok, strict=True) if not good]
    if skipped:
        shown = ", ".join(skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        print(
            f"skipped {len(skipped)} unreadable file(s), rows of NaN (reasons in index.csv): {shown}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    device = torch.device(args.device) if args.device else default_device()
    if int(os.environ.get("WORLD_SIZE", 1)) > 1:  # under torchrun: one share of shards per rank
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    main_rank = not dist.is_initialized() or dist.get_rank() == 0
    model, processor = load_encoder(args)
    if args.save_model and main_rank:
        try:
            replace_folder(args.save_model, lambda folder: save_encoder(model, processor, folder),
                           "the encoder", args.force)  # fmt: skip
        except FileExistsError as error:
            sys.exit(str(error))
        print(f"saved encoder + image processor to {args.save_model}")
    try:
        images = named_images(args.images, args.image_column) if args.images else example_images()
        embeddings = embed_archive(
            model, processor, images,
            args.output, layers=args.layers, batch_size=args.batch_size,
            num_workers=args.num_workers, device=device, precision=args.precision,
            shard_size=args.shard_size, resume=args.resume, compile=args.compile,
            on_bad_image="skip" if args.skip_bad_images else "error",
            progress=main_rank, source=args.model or f"random {args.init} (seed {args.seed})",
        )  # fmt: skip
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        sys.exit(str(error).replace(SKIP_HINT, "pass --skip-bad-images (finished shards are kept: "
                                    "add --resume to go on)"))  # fmt: skip
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if main_rank:
        report(embeddings, args.output)
        if args.similarity:
            write_similarities(embeddings, embeddings.layers[-1], args.similarity)
            print(f"wrote cosine similarities of {embeddings.layers[-1]} to {args.similarity}")


if __name__ == "__main__":
    main()
