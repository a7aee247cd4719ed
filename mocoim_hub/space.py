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

import yaml
from huggingface_hub.utils import HFValidationError, validate_repo_id

from .extras import require
from .hub import PushError, push_to_hub

require("Writing a Space (mocoim-space)", "gradio")
import gradio  # noqa: E402

PACKAGE = Path(__file__).resolve().parent
APP = """from mocoim_hub.app import build_demo, launch

demo = build_demo([{model_id!r}])  # written by mocoim-space

if __name__ == "__main__":
    launch(demo)
"""
REQUIREMENTS = [
    "torch", "torchvision", "transformers>=5.0", "huggingface_hub", "safetensors", "pillow",
    "numpy", "tqdm", "jinja2", "scipy", "datasets", "matplotlib", "pandas", "scikit-image", "pydicom",
]  # fmt: skip


def write_space(
    folder: str | Path, model_id: str, title: str = "MoCo-IM encoder explorer", force: bool = False
) -> Path:
    """Write a runnable Space folder whose app loads `model_id` (a Hub id). A folder that holds
    files is refused unless `force`; the checkout the package is copied from always is."""
    folder = Path(folder)
    _check_model_id(model_id)
    _check_target(folder, force)
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


def _check_model_id(model_id: str) -> None:
    try:
        validate_repo_id(model_id)
    except HFValidationError as error:
        raise ValueError(
            f"--model must be the Hub id (org/name) of the model the Space shows, got "
            f"{model_id!r}: {error}"
        ) from None


def _check_target(folder: Path, force: bool) -> None:
    target = folder.resolve()
    if target == PACKAGE or PACKAGE in target.parents or target in PACKAGE.parents:
        raise ValueError(
            f"{folder} holds or is inside the mocoim_hub package the Space copies ({PACKAGE}): "
            "writing there would overwrite the checkout's own app.py, README.md and package. "
            "Write the Space to a folder of its own, e.g. spaces/mocoim-demo."
        )
    if folder.is_dir() and any(folder.iterdir()) and not force:
        raise ValueError(
            f"{folder} is not empty; its app.py, README.md, requirements.txt and mocoim_hub/ "
            "would be overwritten. Choose a new folder, or pass --force to overwrite them."
        )


def _space_card(title: str, model_id: str) -> str:
    meta = {
        "title": title, "emoji": "🩻", "colorFrom": "indigo", "colorTo": "gray", "sdk": "gradio",
        "sdk_version": gradio.__version__, "app_file": "app.py", "models": [model_id],
        "license": "apache-2.0", "pinned": False,
    }  # fmt: skip
    front_matter = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    return f"""---
{front_matter}---

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
    write.add_argument("--force", action="store_true", help="overwrite a folder that holds files")
    push = commands.add_parser("push", help="upload a Space folder")
    push.add_argument("folder", type=Path)
    push.add_argument("space_id")
    push.add_argument("--private", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "write":
        try:
            print(write_space(args.folder, args.model, args.title, force=args.force))
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
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
