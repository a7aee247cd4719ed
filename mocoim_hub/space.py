"""Package the Gradio demo as a Hugging Face Space folder, and push it.

    mocoim-space write spaces/mocoim-demo --model your-org/mocoim-demo
    mocoim-space push spaces/mocoim-demo your-org/mocoim-demo-space [--private]

The folder holds `app.py` (the demo of `mocoim_hub.app`, set to load `--model`), a copy of the
`mocoim_hub` package (it is not on PyPI), `requirements.txt` and a `README.md` with the Spaces
front matter.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from .extras import require
from .hub import PushError, push_to_hub

require("Writing a Space (mocoim-space)", "gradio")
import gradio  # noqa: E402

PACKAGE = Path(__file__).resolve().parent
APP = """import os

os.environ.setdefault("MOCOIM_MODEL", {model_id!r})  # written by mocoim-space

from mocoim_hub.app import build_demo

demo = build_demo()

if __name__ == "__main__":
    demo.launch()
"""
REQUIREMENTS = [
    "torch", "torchvision", "transformers>=5.0", "huggingface_hub", "safetensors", "pillow",
    "numpy", "tqdm", "jinja2", "scipy", "datasets", "matplotlib", "pandas", "scikit-image", "pydicom",
]  # fmt: skip


def write_space(folder: str | Path, model_id: str, title: str = "MoCo-IM encoder explorer") -> Path:
    """Write a runnable Space folder whose app loads `model_id` (a Hub id)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.py").write_text(APP.format(model_id=model_id), encoding="utf-8")
    code = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(PACKAGE, folder / "mocoim_hub", dirs_exist_ok=True, ignore=code)
    # in a source checkout mocoim_hub.model_cards is mapped from the top-level model_cards/
    templates = Path(str(resources.files("mocoim_hub.model_cards")))
    shutil.copytree(templates, folder / "mocoim_hub" / "model_cards", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.md"))  # fmt: skip
    (folder / "requirements.txt").write_text("\n".join(REQUIREMENTS) + "\n")
    (folder / "README.md").write_text(_space_card(title, model_id), encoding="utf-8")
    return folder


def _space_card(title: str, model_id: str) -> str:
    return f"""---
title: {title}
emoji: 🩻
colorFrom: indigo
colorTo: gray
sdk: gradio
sdk_version: {gradio.__version__}
app_file: app.py
models:
- {model_id}
license: apache-2.0
pinned: false
---

# {title}

Explore [{model_id}](https://huggingface.co/{model_id}), a MoCo-IM encoder (MoCo v2 with an
intermediate-layer loss, Kaku et al., NeurIPS 2021): the input as the model sees it, its pooled
embedding, activation maps of layer1–layer4, per-layer similarity of two images, and nearest
neighbours in a reference gallery. Research use only; not for clinical decisions.
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mocoim-space", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write", help="write a Space folder")
    write.add_argument("folder", type=Path)
    write.add_argument("--model", required=True, help="Hub id of the model the Space shows")
    write.add_argument("--title", default="MoCo-IM encoder explorer")
    push = commands.add_parser("push", help="upload a Space folder")
    push.add_argument("folder", type=Path)
    push.add_argument("space_id")
    push.add_argument("--private", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "write":
        print(write_space(args.folder, args.model, args.title))
        return 0
    if not (args.folder / "app.py").exists():
        print(f"{args.folder} has no app.py; write it first with `mocoim-space write`.",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        retry = shlex.join(["mocoim-space", "push", str(args.folder),
                            args.space_id] + ["--private"] * args.private)  # fmt: skip
        commit = push_to_hub(args.folder, args.space_id, private=args.private or None,
                             repo_type="space", retry=retry)  # fmt: skip
    except PushError as error:
        print(error, file=sys.stderr)
        return 1
    print(commit.commit_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
