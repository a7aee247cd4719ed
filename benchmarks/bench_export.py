"""onnxruntime against PyTorch eager on the same encoder: images/s at the same batch and thread
count, measured alternately in one run, and the largest difference of their embeddings. Medians.

    python benchmarks/bench_export.py [--backbones resnet18 resnet50] [--batch-size 8] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np
import onnxruntime
import torch

from mocoim_hub import MocoImConfig, MocoImImageProcessor, MocoImModel
from mocoim_hub.export import export_encoder


def measure(
    backbone: str, batch_size: int, repeats: int, threads: int
) -> tuple[float, float, float]:
    """PyTorch eager and onnxruntime img/s (medians, alternating) and the largest difference."""
    config = MocoImConfig(backbone=backbone, num_channels=1, image_size=224)
    model = MocoImModel(config).eval()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    with tempfile.TemporaryDirectory() as folder:
        export_encoder(model, MocoImImageProcessor.from_model_config(config), folder)
        session = onnxruntime.InferenceSession(f"{folder}/model.onnx", options,
                                               providers=["CPUExecutionProvider"])  # fmt: skip
    pixels = torch.randn(batch_size, 1, 224, 224)

    def eager() -> np.ndarray:
        with torch.inference_mode():
            return model(pixels).pooler_output.numpy()

    def ort() -> np.ndarray:
        return session.run(["embedding"], {"pixel_values": pixels.numpy()})[0]

    difference = float(np.abs(eager() - ort()).max())  # also the warm-up
    timings = {"eager": [], "ort": []}
    for _ in range(repeats):
        for name, run in (("eager", eager), ("ort", ort)):
            start = time.perf_counter()
            run()
            timings[name].append(batch_size / (time.perf_counter() - start))
    return statistics.median(timings["eager"]), statistics.median(timings["ort"]), difference


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backbones", nargs="+", default=["resnet18", "resnet50"])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, {threads} threads each, "
          f"224 px gray, batch {args.batch_size}, medians of {args.repeats}\n")  # fmt: skip
    print(
        "| backbone | PyTorch eager img/s | onnxruntime img/s | onnxruntime / eager | max abs difference |"
    )
    print("|---|---|---|---|---|")
    for backbone in args.backbones:
        eager, ort, difference = measure(backbone, args.batch_size, args.repeats, threads)
        print(f"| {backbone} | {eager:.0f} | {ort:.0f} | {ort / eager:.2f}x | {difference:.1e} |")


if __name__ == "__main__":
    main()
