"""Gradio demo of a MoCo-IM encoder: what it sees, its embedding, its intermediate layers.

`build_demo()` makes the Blocks; the computations are in `mocoim_hub.demo`. `app.py` in the
checkout and the Space folders `mocoim-space write` makes are two lines over this module.

    python -m mocoim_hub.app                                  # the model of the README's main command
    MOCOIM_MODEL=your-org/mocoim-nih python -m mocoim_hub.app # any local folder or Hub id
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from .extras import require  # noqa: E402

require("The Gradio demo", "gradio", "pandas", "skimage")

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import PIL.Image  # noqa: E402

from . import demo as logic  # noqa: E402
from .examples import example_files  # noqa: E402

INTRO = """# MoCo-IM encoder explorer
Self-supervised encoders pretrained with MoCo v2 plus an **intermediate-layer loss**
(Kaku et al., NeurIPS 2021). Upload a PNG, JPEG, 16-bit PNG or DICOM file. Research use only:
not for clinical decisions."""


def _as_files(images: list[np.ndarray]) -> list[str]:
    """Images as PNG files of their own. Gradio rewrites array outputs in place in a cache shared
    by identical images, which can hand a concurrent user a truncated file; files it copies
    atomically."""
    folder = Path(tempfile.mkdtemp(prefix="mocoim-demo-"))
    paths = [folder / f"{i}.png" for i in range(len(images))]
    for path, image in zip(paths, images, strict=True):
        PIL.Image.fromarray(image).save(path)
    return [str(p) for p in paths]


def _model_and_pixels(source: str, path: str | None):
    try:
        loaded = logic.load_model(source)
        return loaded, logic.pixels_of(loaded, logic.read_upload(path))
    except (ValueError, OSError) as error:
        raise gr.Error(str(error)) from None


def run_embed(source: str, path: str | None):
    loaded, pixels = _model_and_pixels(source, path)
    embedding = logic.embed(loaded, pixels)
    output = Path(tempfile.mkdtemp()) / "embedding.npy"
    np.save(output, embedding)
    summary = {"dimensions": len(embedding), "L2 norm": round(float(np.linalg.norm(embedding)), 4),
               "mean": round(float(embedding.mean()), 4), "std": round(float(embedding.std()), 4),
               "first values": [round(float(v), 4) for v in embedding[:8]]}  # fmt: skip
    seen = logic.as_seen_by_model(loaded, pixels)
    scale = max(1, 256 // max(seen.shape[:2]))  # small inputs (32 px) shown big, pixels kept sharp
    seen = seen.repeat(scale, axis=0).repeat(scale, axis=1)
    overlays = logic.activation_overlays(loaded, pixels)
    seen_file, *overlay_files = _as_files([seen] + [image for image, _ in overlays])
    return (
        seen_file,
        summary,
        str(output),
        list(zip(overlay_files, [c for _, c in overlays], strict=True)),
    )


def run_classify(source: str, path: str | None):
    loaded, pixels = _model_and_pixels(source, path)
    try:
        return logic.classify(loaded, pixels)
    except ValueError as error:
        raise gr.Error(str(error)) from None


def run_compare(source: str, first: str | None, second: str | None):
    loaded, a = _model_and_pixels(source, first)
    _, b = _model_and_pixels(source, second)
    similarities = logic.layer_similarities(loaded, a, b)
    return pd.DataFrame(
        {"layer": list(similarities), "cosine similarity": list(similarities.values())}
    )


def run_retrieve(source: str, path: str | None):
    loaded, pixels = _model_and_pixels(source, path)
    neighbours = logic.gallery(loaded.source).nearest(logic.embed(loaded, pixels))
    files = _as_files([image for image, _ in neighbours])
    return list(zip(files, [caption for _, caption in neighbours], strict=True))


def build_demo(default_model: str | None = None) -> gr.Blocks:
    default_model = default_model or logic.default_model_source()
    examples = [[str(p)] for p in example_files().values()]
    with gr.Blocks(title="MoCo-IM encoder explorer") as demo:
        gr.Markdown(INTRO)
        model = gr.Textbox(default_model, label="Model (local folder or Hub id)")
        if not logic.is_model_source(default_model):
            gr.Markdown(f"**No model at `{default_model}`.** Make the demo model with "
                        "`mocoim-pretrain --recipe demo --output-dir runs/demo`, or "
                        "enter a folder or Hub id above.")  # fmt: skip
        with gr.Tab("Embed"):
            upload = gr.File(label="Image or DICOM", type="filepath")
            button = gr.Button("Embed", variant="primary")
            with gr.Row():
                seen = gr.Image(label="Input as the model sees it", type="filepath")
                summary = gr.JSON(label="Pooled embedding")
            download = gr.File(label="Embedding (.npy)")
            maps = gr.Gallery(label="Activation maps of layer1–layer4", columns=4, height=260)
            button.click(
                run_embed, [model, upload], [seen, summary, download, maps], api_name="embed"
            )
            gr.Examples(examples, [upload])
        with gr.Tab("Classify"):
            upload_c = gr.File(label="Image or DICOM", type="filepath")
            button_c = gr.Button("Classify", variant="primary")
            labels = gr.Label(label="Predictions", num_top_classes=5)
            button_c.click(run_classify, [model, upload_c], labels, api_name="classify")
        with gr.Tab("Compare"):
            with gr.Row():
                first = gr.File(label="First image", type="filepath")
                second = gr.File(label="Second image", type="filepath")
            button_2 = gr.Button("Compare", variant="primary")
            chart = gr.BarPlot(
                x="layer", y="cosine similarity", y_lim=[-1, 1], label="Similarity per layer"
            )
            button_2.click(run_compare, [model, first, second], chart, api_name="compare")
        with gr.Tab("Retrieve"):
            upload_r = gr.File(label="Image or DICOM", type="filepath")
            button_r = gr.Button("Find nearest gallery images", variant="primary")
            neighbours = gr.Gallery(
                label="Nearest images of the embedded dataset's test split", columns=8
            )
            button_r.click(run_retrieve, [model, upload_r], neighbours, api_name="retrieve")
    return demo


if __name__ == "__main__":
    build_demo().launch()
