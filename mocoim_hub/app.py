"""Gradio demo of MoCo-IM encoders: what they see, their embeddings, their intermediate layers.

`build_demo(models)` makes the Blocks; the computations are in `mocoim_hub.demo`. The models are
fixed when the app starts: clients choose among them by name and never name a server path.
`app.py` in the checkout calls `main()`; the Space folders `mocoim-space write` makes call
`build_demo` and `launch`.

    python -m mocoim_hub.app                                   # the README's model (runs/demo/model)
    python -m mocoim_hub.app --model runs/demo/model --model nih=your-org/mocoim-nih
    python -m mocoim_hub.app --host 0.0.0.0 --port 8080      # listen on every interface, port 8080
    MOCOIM_MODEL=your-org/mocoim-nih python -m mocoim_hub.app  # the same as --model, comma-separated
"""

from __future__ import annotations

import argparse
import atexit
import collections
import hashlib
import os
import shutil
import signal
import sys
import tempfile
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# This process's own folder (mode 0700, made fresh): request outputs, the example files and, unless
# GRADIO_TEMP_DIR says otherwise, Gradio's file cache, whose paths Gradio's file protocol shows
# clients; never a file it did not write; removed at exit (and on SIGTERM once `launch` has run).
OUTPUTS = Path(tempfile.mkdtemp(prefix="mocoim-demo-"))
atexit.register(shutil.rmtree, OUTPUTS, ignore_errors=True)
os.environ.setdefault("GRADIO_TEMP_DIR", str(OUTPUTS / "gradio"))

from .extras import require  # noqa: E402

require("The Gradio demo", "gradio", "pandas", "skimage")

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import PIL.Image  # noqa: E402
from starlette.formparsers import MultiPartException  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402

from . import demo as logic  # noqa: E402
from .examples import example_files  # noqa: E402

INTRO = """# MoCo-IM encoder explorer
Self-supervised encoders pretrained with MoCo v2 plus an **intermediate-layer loss**
(Kaku et al., NeurIPS 2021). Upload a PNG, JPEG, 16-bit PNG or DICOM file. Research use only:
not for clinical decisions."""


MAX_FILE_SIZE_MB = logic.MAX_UPLOAD_BYTES // 2**20
# Uploads reach the functions as bytes: a "filepath" File leaves an empty temporary file in
# Gradio's cache on every call, which no cache setting removes.
UPLOAD = "binary"
KEPT_OUTPUTS = 64  # requests whose output files are kept until Gradio has copied them
MAX_QUEUE = 64  # requests waiting at once; the next ones are told the app is busy
MAX_FILES_PER_UPLOAD = 2  # the most any endpoint takes (Compare); Gradio alone allows 1000
_OUTPUT_FOLDERS: collections.deque[Path] = collections.deque()
_OUTPUTS_LOCK = threading.Lock()


@dataclass(frozen=True)
class Serving:
    """What one demo serves: its models, by the names users see, and the largest upload."""

    models: dict[str, logic.LoadedModel]
    max_upload_bytes: int
    gallery: str | None = None  # the Retrieve tab's images (default: the embedded test split)


def _output_folder() -> Path:
    """A fresh folder for one request's files; only the newest `KEPT_OUTPUTS` are kept (Gradio
    copies returned files into its own cache as soon as a request returns)."""
    with _OUTPUTS_LOCK:  # requests of different tabs run concurrently
        _OUTPUT_FOLDERS.append(OUTPUTS / "requests" / uuid.uuid4().hex)
        _OUTPUT_FOLDERS[-1].mkdir(parents=True)
        while len(_OUTPUT_FOLDERS) > KEPT_OUTPUTS:
            shutil.rmtree(_OUTPUT_FOLDERS.popleft(), ignore_errors=True)
        return _OUTPUT_FOLDERS[-1]


def _as_files(images: list[np.ndarray], folder: Path, suffix: str = ".png") -> list[str]:
    """Images as files of their own. Gradio rewrites array outputs in place in a cache shared by
    identical images, which can hand a concurrent user a truncated file; files it copies
    atomically. PNG at zlib level 1 (a fifth of the default level's time, 17 % larger), or JPEG
    at quality 90 where the pixels need not be exact (1 ms for the four overlays, 6x smaller)."""
    paths = [folder / f"{suffix[1:]}{i}{suffix}" for i in range(len(images))]
    options = {"compress_level": 1} if suffix == ".png" else {"quality": 90}
    for path, image in zip(paths, images, strict=True):
        PIL.Image.fromarray(image).save(path, **options)
    return [str(p) for p in paths]


def _model_and_pixels(serving: Serving, name: str, upload: bytes | None):
    if name not in serving.models:
        served = ", ".join(serving.models) or "none"
        raise gr.Error(f"Unknown model {str(name)[:100]!r}; this app serves {served}.")
    loaded = serving.models[name]
    try:
        image = logic.read_upload(upload, serving.max_upload_bytes)
        return loaded, logic.pixels_of(loaded, image)
    except ValueError as error:
        raise gr.Error(str(error)) from None


@dataclass(frozen=True)
class _View:
    """What one Embed request computes, from one forward: the embedding, the input as the
    model sees it and the activation overlays of layer1..layer4 with their captions."""

    embedding: np.ndarray
    seen: np.ndarray
    overlays: list[tuple[np.ndarray, str]]


def _view(serving: Serving, name: str, upload: bytes | None) -> _View:
    loaded, pixels = _model_and_pixels(serving, name, upload)
    maps = logic.layer_maps(loaded, pixels)
    seen = logic.as_seen_by_model(loaded, pixels)
    scale = max(1, 256 // max(seen.shape[:2]))  # small inputs (32 px) shown big, pixels kept sharp
    seen = seen.repeat(scale, axis=0).repeat(scale, axis=1)
    overlays = logic.activation_overlays(loaded, pixels, maps)
    return _View(logic.pooled_embedding(maps), seen, overlays)


def run_embed(serving: Serving, name: str, upload: bytes | None) -> dict:
    """The pooled embedding and its summary, as JSON: nothing to download. The views of the same
    forward are kept for `run_views`, which the page asks for next."""
    view = _view(serving, name, upload)
    _RECENT_VIEWS.put((name, upload), view)
    embedding = view.embedding
    return {"dimensions": len(embedding), "L2 norm": round(float(np.linalg.norm(embedding)), 4),
            "mean": round(float(embedding.mean()), 4), "std": round(float(embedding.std()), 4),
            "embedding": [round(float(v), 6) for v in embedding]}  # fmt: skip


def run_views(serving: Serving, name: str, upload: bytes | None):
    """The input as the model sees it, the embedding as .npy and the activation maps with
    captions: those of the Embed request for this model and upload, else computed."""
    view = _RECENT_VIEWS.get((name, upload)) or _view(serving, name, upload)
    folder = _output_folder()
    np.save(folder / "embedding.npy", view.embedding)
    (seen_file,) = _as_files([view.seen], folder)
    overlay_files = _as_files([image for image, _ in view.overlays], folder, ".jpg")
    captions = [caption for _, caption in view.overlays]
    return seen_file, str(folder / "embedding.npy"), list(zip(overlay_files, captions, strict=True))


class _RecentViews:
    """The views of the last few Embed requests, by (model name, upload digest)."""

    def __init__(self, size: int = 8):
        self.size, self.items, self.lock = size, collections.OrderedDict(), threading.Lock()

    @staticmethod
    def _key(key: tuple[str, bytes | None]) -> tuple[str, str]:
        name, upload = key
        return str(name), hashlib.sha256(upload or b"").hexdigest()

    def put(self, key: tuple[str, bytes | None], view: _View) -> None:
        with self.lock:
            self.items[self._key(key)] = view
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def get(self, key: tuple[str, bytes | None]) -> _View | None:
        with self.lock:
            return self.items.get(self._key(key))


_RECENT_VIEWS = _RecentViews()


def run_classify(serving: Serving, name: str, upload: bytes | None):
    loaded, pixels = _model_and_pixels(serving, name, upload)
    try:
        return logic.classify(loaded, pixels)
    except ValueError as error:
        raise gr.Error(str(error)) from None


def run_compare(serving: Serving, name: str, first: bytes | None, second: bytes | None):
    loaded, a = _model_and_pixels(serving, name, first)
    _, b = _model_and_pixels(serving, name, second)
    similarities = logic.layer_similarities(loaded, a, b)
    return pd.DataFrame(
        {"layer": list(similarities), "cosine similarity": list(similarities.values())}
    )


def run_retrieve(serving: Serving, name: str, upload: bytes | None):
    loaded, pixels = _model_and_pixels(serving, name, upload)
    neighbours = logic.gallery(loaded.source, serving.gallery).nearest(logic.embed(loaded, pixels))
    files = _as_files([image for image, _ in neighbours], _output_folder())
    return list(zip(files, [caption for _, caption in neighbours], strict=True))


def load_models(specs: Sequence[str]) -> dict[str, logic.LoadedModel]:
    """`NAME=SOURCE` or `SOURCE` (named after its folder or Hub id) -> the loaded models. A model
    that does not load is reported here, on the server's console, and left out."""
    models = {}
    for spec in specs:
        name, _, source = spec.rpartition("=")
        name = name or logic.model_name(source)
        while name in models:
            name += "'"
        try:
            models[name] = logic.load_model(source)
        except (ValueError, OSError) as error:
            print(f"mocoim-demo: not serving {source}: {error}")
    return models


def build_demo(
    models: str | Sequence[str] | None = None,
    max_file_size_mb: int = MAX_FILE_SIZE_MB,
    gallery: str | None = None,
    max_queue: int = MAX_QUEUE,
) -> gr.Blocks:
    """The demo serving `models` (folders or Hub ids, `NAME=SOURCE` to name one); default
    `$MOCOIM_MODEL` (comma-separated) or the README's `runs/demo/model`. The Retrieve tab searches
    `gallery` (a folder, glob or CSV/TSV file; default: the embedded dataset's test split). At most
    `max_queue` requests wait at once; Gradio tells the next ones the queue is full.
    Launch it with `launch` and the same `max_file_size_mb`."""
    specs = [models] if isinstance(models, str) else list(models or logic.default_model_sources())
    if gallery is not None:
        logic.gallery_images(gallery)  # a wrong path fails at start, not at the first request
    served = Serving(load_models(specs), max_file_size_mb * 2**20, gallery)
    examples = [[str(p)] for p in example_files(OUTPUTS / "examples").values()]
    with gr.Blocks(title="MoCo-IM encoder explorer", delete_cache=(300, 900)) as demo:
        gr.Markdown(INTRO)
        names = list(served.models)
        model = gr.Dropdown(names, value=names[0] if names else None, label="Model")
        if not names:
            gr.Markdown("**No model could be loaded** (the server's console says why). Make the "
                        "demo model with `mocoim-pretrain --recipe demo --output-dir runs/demo` "
                        "and restart, or start the app with `--model FOLDER_OR_HUB_ID`.")  # fmt: skip
        with gr.Tab("Embed"):
            upload = gr.File(label="Image or DICOM", type=UPLOAD)
            button = gr.Button("Embed", variant="primary")
            with gr.Row():
                seen = gr.Image(label="Input as the model sees it", type="filepath")
                summary = gr.JSON(label="Pooled embedding")
            download = gr.File(label="Embedding (.npy)")
            maps = gr.Gallery(label="Activation maps of layer1–layer4", columns=4, height=260)
            button.click(
                partial(run_embed, served), [model, upload], summary, api_name="embed"
            ).success(
                partial(run_views, served), [model, upload], [seen, download, maps],
                api_name="embed_views",
            )  # fmt: skip
            gr.Examples(examples, [upload])
        with gr.Tab("Classify"):
            upload_c = gr.File(label="Image or DICOM", type=UPLOAD)
            button_c = gr.Button("Classify", variant="primary")
            labels = gr.Label(label="Predictions", num_top_classes=5)
            button_c.click(
                partial(run_classify, served), [model, upload_c], labels, api_name="classify"
            )
        with gr.Tab("Compare"):
            with gr.Row():
                first = gr.File(label="First image", type=UPLOAD)
                second = gr.File(label="Second image", type=UPLOAD)
            button_2 = gr.Button("Compare", variant="primary")
            chart = gr.BarPlot(
                x="layer", y="cosine similarity", y_lim=[-1, 1], label="Similarity per layer"
            )
            button_2.click(
                partial(run_compare, served), [model, first, second], chart, api_name="compare"
            )
        with gr.Tab("Retrieve"):
            upload_r = gr.File(label="Image or DICOM", type=UPLOAD)
            button_r = gr.Button("Find nearest gallery images", variant="primary")
            searched = gallery or "the embedded dataset's test split"
            neighbours = gr.Gallery(label=f"Nearest images of {searched}", columns=8)
            button_r.click(
                partial(run_retrieve, served), [model, upload_r], neighbours, api_name="retrieve"
            )
    return demo.queue(max_size=max_queue)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="app.py", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", action="append", metavar="[NAME=]SOURCE",
        help="a model folder or Hub id to serve; repeat for more (default: $MOCOIM_MODEL, "
        f"comma-separated, or {logic.DEFAULT_MODEL})",
    )  # fmt: skip
    parser.add_argument(
        "--max-file-size", type=int, default=MAX_FILE_SIZE_MB, metavar="MB",
        help=f"largest upload accepted, refused before it is stored (default {MAX_FILE_SIZE_MB})",
    )  # fmt: skip
    parser.add_argument(
        "--host", help="address to listen on (default: $GRADIO_SERVER_NAME, else 127.0.0.1; "
        "0.0.0.0 for every interface)",
    )  # fmt: skip
    parser.add_argument(
        "--port", type=int,
        help="port (default: $GRADIO_SERVER_PORT, else the first free one from 7860)",
    )  # fmt: skip
    parser.add_argument(
        "--gallery", metavar="PATH",
        help="images the Retrieve tab searches: a folder (walked recursively), a glob or a "
        "CSV/TSV file (default: the embedded dataset's test split)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        demo = build_demo(args.model, args.max_file_size, args.gallery)
    except (FileNotFoundError, ValueError) as error:
        parser.error(f"--gallery: {error}")
    launch(demo, args.max_file_size, server_name=args.host, server_port=args.port)


def launch(demo: gr.Blocks, max_file_size_mb: int = MAX_FILE_SIZE_MB, **options) -> None:
    """Serve `demo`; Gradio refuses larger uploads before storing them, and an upload of more than
    `MAX_FILES_PER_UPLOAD` files is refused as it streams in. A SIGTERM (a container or Space
    stopping) then exits through the `atexit` handlers, which remove the app's files."""
    if threading.current_thread() is threading.main_thread() and (
        signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app_kwargs = dict(options.pop("app_kwargs", None) or {})
    limit = Middleware(UploadFileLimit, max_files=MAX_FILES_PER_UPLOAD)
    app_kwargs["middleware"] = [*app_kwargs.get("middleware", []), limit]
    demo.launch(max_file_size=f"{max_file_size_mb}mb", app_kwargs=app_kwargs, **options)


class UploadFileLimit:
    """ASGI middleware: a multipart request may carry at most `max_files` files. The parts are
    counted by their boundary as the body streams in; past the limit the stream raises what
    Gradio's own parser raises, so its upload route answers 400 with the reason and removes what
    it had stored."""

    def __init__(self, app, max_files: int):
        self.app, self.max_files = app, max_files

    async def __call__(self, scope, receive, send):
        boundary = _multipart_boundary(scope)
        if boundary is None:
            return await self.app(scope, receive, send)
        delimiter = b"--" + boundary
        seen, tail = 0, b""

        async def counted():
            nonlocal seen, tail
            message = await receive()
            data = tail + message.get("body", b"")
            seen += data.count(delimiter)  # one per part, and one closing the body
            tail = data[1 - len(delimiter) :]
            if seen > self.max_files + 1:
                raise MultiPartException(
                    f"Too many files in one upload: at most {self.max_files} are accepted "
                    "(each of this app's inputs takes one file). Upload them one request at a time."
                )
            return message

        return await self.app(scope, counted, send)


def _multipart_boundary(scope) -> bytes | None:
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    content_type = dict(scope["headers"]).get(b"content-type", b"")
    kind, _, parameters = content_type.partition(b";")
    if kind.strip().lower() != b"multipart/form-data":
        return None
    for parameter in parameters.split(b";"):
        key, _, value = parameter.strip().partition(b"=")
        if key.lower() == b"boundary" and value.strip(b'"'):
            return value.strip(b'"')
    return None


if __name__ == "__main__":
    main()
