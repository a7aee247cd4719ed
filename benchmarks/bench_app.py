"""Latency of the demo's Embed request (upload, decoding, preprocessing, forward pass, activation
maps, response, through gradio_client on localhost) against two baselines on the same image,
measured alternately in one run: the bare model forward on preprocessed pixels, and embedding the
file in Python (decode + preprocess + forward). Gradio's own floor is measured beside them: a
request that uploads the same file to an endpoint that only returns its size. Medians.

    python benchmarks/bench_app.py [--model runs/demo/model | --backbone resnet50] [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import gradio as gr
import torch
from gradio_client import Client, handle_file

from mocoim_hub import MocoImConfig, MocoImImageProcessor, MocoImModel, load_image
from mocoim_hub.app import build_demo, launch
from mocoim_hub.examples import example_files


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", help="model folder (default: a random-init --backbone at 224 px)"
    )
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    model_dir = args.model
    if model_dir is None:
        model_dir = tempfile.mkdtemp()
        config = MocoImConfig(backbone=args.backbone, num_channels=3, image_size=224)
        MocoImModel(config).save_pretrained(model_dir)
        MocoImImageProcessor.from_model_config(config).save_pretrained(model_dir)
    demo = build_demo([f"bench={model_dir}"])
    launch(demo, prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    client = Client(demo.local_url, verbose=False)
    with gr.Blocks() as floor:  # the same upload through Gradio, no work on it
        gr.Button().click(
            lambda data: len(data), gr.File(type="binary"), gr.Number(), api_name="size"
        )
    floor.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    floor_client = Client(floor.local_url, verbose=False)
    image_path = str(example_files()["retina"])
    model = MocoImModel.from_pretrained(model_dir).eval()
    processor = MocoImImageProcessor.from_pretrained(model_dir)
    pixels = processor(load_image(image_path), return_tensors="pt")["pixel_values"]

    def request() -> None:
        client.predict("bench", handle_file(image_path), api_name="/embed")

    def forward() -> None:
        with torch.inference_mode():
            model(pixels)

    def embed_file() -> None:
        with torch.inference_mode():
            model(**processor(load_image(image_path), return_tensors="pt"))

    def upload_only() -> None:
        floor_client.predict(handle_file(image_path), api_name="/size")

    actions = {"request": request, "forward": forward, "file": embed_file, "floor": upload_only}
    request()  # warm-up
    timings = {name: [] for name in actions}
    for _ in range(args.repeats):
        for name, action in actions.items():
            start = time.perf_counter()
            action()
            timings[name].append(time.perf_counter() - start)
    demo.close()
    floor.close()
    request_ms, forward_ms, file_ms, floor_ms = (
        statistics.median(timings[k]) * 1000 for k in actions
    )
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {model.config.backbone} at "
          f"{model.config.image_size} px, 1411 px fundus PNG, medians of {args.repeats}")  # fmt: skip
    print(f"Embed request {request_ms:.0f} ms; bare forward {forward_ms:.0f} ms -> ratio "
          f"{request_ms / forward_ms:.1f}x; embedding the file in Python {file_ms:.0f} ms -> ratio "
          f"{request_ms / file_ms:.1f}x")  # fmt: skip
    print(f"Gradio's floor, the same upload to an endpoint that returns its size: {floor_ms:.0f} ms "
          f"({floor_ms / forward_ms:.1f}x the forward)")  # fmt: skip


if __name__ == "__main__":
    main()
