"""Latency of the demo's Embed request (upload, preprocessing, forward pass, activation maps,
response, through gradio_client on localhost) against the bare model forward on the same image,
measured alternately in one run. Medians.

    python benchmarks/bench_app.py [--model runs/demo/model] [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from gradio_client import Client, handle_file

from mocoim_hub import MocoImConfig, MocoImImageProcessor, MocoImModel, load_image
from mocoim_hub.app import build_demo, launch
from mocoim_hub.examples import example_files


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="model folder (default: a random-init resnet18 at 224 px)")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    model_dir = args.model
    if model_dir is None:
        model_dir = tempfile.mkdtemp()
        config = MocoImConfig(backbone="resnet18", num_channels=3, image_size=224)
        MocoImModel(config).save_pretrained(model_dir)
        MocoImImageProcessor.from_model_config(config).save_pretrained(model_dir)
    demo = build_demo([f"bench={model_dir}"])
    launch(demo, prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    client = Client(demo.local_url, verbose=False)
    image_path = str(example_files()["retina"])
    model = MocoImModel.from_pretrained(model_dir).eval()
    pixels = MocoImImageProcessor.from_pretrained(model_dir)(
        load_image(image_path), return_tensors="pt"
    )["pixel_values"]

    def request() -> None:
        client.predict("bench", handle_file(image_path), api_name="/embed")

    def forward() -> None:
        with torch.inference_mode():
            model(pixels)

    request()  # warm-up
    timings = {"request": [], "forward": []}
    for _ in range(args.repeats):
        for name, action in (("request", request), ("forward", forward)):
            start = time.perf_counter()
            action()
            timings[name].append(time.perf_counter() - start)
    demo.close()
    request_ms, forward_ms = (statistics.median(timings[k]) * 1000 for k in ("request", "forward"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {model.config.backbone} at "
          f"{model.config.image_size} px, 1411 px fundus PNG, medians of {args.repeats}")  # fmt: skip
    print(
        f"Embed request {request_ms:.0f} ms, bare forward {forward_ms:.0f} ms -> ratio {request_ms / forward_ms:.1f}x"
    )


if __name__ == "__main__":
    main()
