"""Where a model comes from: a local folder or a Hub id, told apart before any network call.

A name that can only be a path (it starts with `.`, `/` or `~`, holds more than one `/` or a
`\\`, or its parent folder exists here) and names no folder fails at once with one line, instead
of going to the Hub as a repo id and coming back after retries as a connection error.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

MAKE_A_MODEL = "Make one with `mocoim-pretrain --recipe demo --output-dir runs/demo`"


class ModelNotFoundError(FileNotFoundError):
    """A local model path that names no model folder."""


def looks_local(source: str | os.PathLike) -> bool:
    """True if `source` cannot be a Hub id (`name` or `org/name`) and must be a path."""
    text = os.fspath(source)
    parent = Path(text).expanduser().parent
    return (
        text.startswith((".", "/", "~"))
        or text.count("/") > 1
        or "\\" in text
        or (parent != Path(".") and parent.is_dir())
    )


class OpenModelFolderError(ValueError):
    """A model folder whose files link outside it."""


def check_model_source(source: str | os.PathLike | None) -> None:
    """Raise `ModelNotFoundError` when `source` is a path that holds no model folder, and
    `OpenModelFolderError` when a folder's files link outside it; a closed folder, a Hub id or
    None (weights given another way) pass."""
    if not isinstance(source, str | os.PathLike):
        return
    if looks_local(source):
        require_model_folder(source)
    folder = Path(source).expanduser()
    if folder.is_dir():
        require_closed_folder(folder)


def require_closed_folder(folder: Path) -> None:
    """Every file of `folder` resolves inside it: a `model.safetensors` linked to a file
    elsewhere is refused. A snapshot of the Hub cache (`models--org--name/snapshots/<revision>`)
    may link into its own `blobs/`, as huggingface_hub makes it."""
    root = folder.resolve()
    homes = [root]
    if folder.parent.name == "snapshots" and folder.parent.parent.name.startswith("models--"):
        homes.append((folder.parent.parent / "blobs").resolve())
    for entry in folder.iterdir():
        target = entry.resolve()
        if not any(target == home or target.is_relative_to(home) for home in homes):
            raise OpenModelFolderError(
                f"{entry} links to {target}, outside the model folder {folder}. A model folder is "
                "read only inside itself: copy the file in instead of linking to it."
            )


def require_model_folder(source: str | os.PathLike) -> Path:
    """`source` as a folder path, or `ModelNotFoundError` naming the closest folder beside it."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ModelNotFoundError(
            f"{os.fspath(source)} is a file; expected a model folder (config.json, "
            "model.safetensors) or a Hub id (org/name)."
        )
    raise ModelNotFoundError(
        f"No model folder at {os.fspath(source)}{_suggestion(path)}. {MAKE_A_MODEL}, or give a "
        "Hub id (org/name)."
    )


def _suggestion(path: Path) -> str:
    """`; did you mean …?` naming the closest folder beside where `path` points, if any."""
    parent = path.parent
    if not parent.is_dir():
        return ""
    siblings = [p.name for p in parent.iterdir() if p.is_dir()]
    close = difflib.get_close_matches(path.name, siblings, n=1)
    return f" (did you mean {parent / close[0]}?)" if close else ""
