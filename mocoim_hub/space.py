"""Package the Gradio demo as a Hugging Face Space folder (`write_space`); `mocoim-space` writes
and pushes it (`mocoim_hub.commands.space`).

The folder holds `app.py` (the demo of `mocoim_hub.app`, set to load `--model`), a copy of the
`mocoim_hub` package (it is not on PyPI), `requirements.txt` and a `README.md` with the Spaces
front matter.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import yaml
from huggingface_hub.utils import HFValidationError, validate_repo_id

from .extras import require

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
    if folder.exists() and not folder.is_dir():
        raise ValueError(
            f"{folder} is a file, not a folder: a Space is a folder (app.py, README.md, "
            "requirements.txt, mocoim_hub/). Choose a folder path, e.g. spaces/mocoim-demo."
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
