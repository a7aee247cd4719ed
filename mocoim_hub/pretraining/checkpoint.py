"""Atomic, resumable training checkpoints (read back with `weights_only=True`: no pickled code)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Write `state` next to `path`, flush it to disk, then rename it into place: a crash at any
    moment leaves either the previous checkpoint or the new one, never a half-written file.
    A failed write (a full disk) raises `OSError` saying so; the previous checkpoint is kept."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with open(temporary, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        kept = f"the previous checkpoint {path} is intact" if path.exists() else "no checkpoint yet"
        raise OSError(
            error.errno,
            f"Could not write the checkpoint {path} ({error.strerror or error}); {kept}. Free "
            "disk space (or choose another --output-dir), then --resume.",
        ) from error
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(
            f"Could not read checkpoint {path} ({type(err).__name__}: {err})."
        ) from err


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
