"""Import ResNet weights from a torchvision, facebookresearch/moco or Lightning checkpoint into a
MoCo-IM model folder (safetensors); see `mocoim_hub.convert`.

    mocoim-convert SRC OUT [--num-channels 1] [--image-size 224]
"""

from __future__ import annotations

import argparse

from ..convert import convert_checkpoint


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="mocoim-convert", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="checkpoint file (.pth, .pth.tar, .ckpt, .bin)")
    parser.add_argument("output_dir", help="folder to write the MoCo-IM model to")
    parser.add_argument(
        "--num-channels", type=int, choices=(1, 3), help="default: as in the checkpoint"
    )
    parser.add_argument("--image-size", type=int, default=224, help="input size the model expects")
    parser.add_argument(
        "--force", action="store_true", help="replace a folder holding files not written here"
    )
    args = parser.parse_args(argv)
    try:
        model = convert_checkpoint(args.source, args.output_dir, args.num_channels, args.image_size,
                                   force=args.force)  # fmt: skip
    except (ValueError, OSError) as err:
        parser.exit(2, f"error: {err}\n")
    config = model.config
    print(
        f"Wrote {config.backbone} ({config.num_channels} channel(s), {config.stem} stem) to "
        f"{args.output_dir}"
    )


if __name__ == "__main__":
    main()
