"""Export an encoder for serving without transformers or PyTorch; see `mocoim_hub.export`.

    mocoim-export runs/demo/model runs/demo/onnx
    mocoim-export org/mocoim-nih nih-torchscript --format torchscript --layers layer2 layer3

Writes the model file (model.onnx, model.pt or model.pt2), preprocessor_config.json, config.json
and parity.json: the largest difference from PyTorch on real example images at batch 1 and 3.
Exits 1 if that exceeds the tolerance (the files are kept for inspection).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import MocoImImageProcessor, MocoImModel
from ..configuration_mocoim import STAGE_NAMES
from ..export import FILE_OF, OPSET, export_encoder


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="mocoim-export",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="MoCo-IM folder or Hub id")
    parser.add_argument("output_dir", help="new or empty folder to write to")
    parser.add_argument("--format", default="onnx", choices=list(FILE_OF))
    parser.add_argument(
        "--layers", nargs="*", default=[], choices=STAGE_NAMES,
        help="also output these stages' maps (the pooled embedding is always the first output)",
    )  # fmt: skip
    parser.add_argument("--opset", type=int, default=OPSET, help="ONNX opset (with --format onnx)")
    args = parser.parse_args(argv)
    try:
        model = MocoImModel.from_pretrained(args.model)
        processor = MocoImImageProcessor.from_pretrained(args.model)
        report = export_encoder(model, processor, args.output_dir, args.format, args.layers,
                                args.opset)  # fmt: skip
    except (OSError, ValueError) as error:
        sys.exit(str(error))
    shapes = ", ".join(f"{name} {tuple(shape)}" for name, shape in report.outputs.items())
    opset = f", opset {report.opset}" if report.opset else ""
    print(f"wrote {args.output_dir}/{report.file} ({args.format}{opset}): pixel_values "
          f"{tuple(report.input['pixel_values'])} -> {shapes}")  # fmt: skip
    differences = ", ".join(f"{n} {v:.1e}" for n, v in report.max_abs_difference.items())
    print(f"parity on {len(report.images)} example images, max |exported - PyTorch|: {differences}")
    if not report.passed:
        sys.exit(f"parity FAILED: above the tolerance {report.tolerance:g} (see parity.json)")


if __name__ == "__main__":
    main()
