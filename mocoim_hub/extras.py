"""Optional dependencies: which extra of `pip install mocoim_hub[...]` brings each, and one clear
error when a feature that needs one is used without it. The base install serves inference."""

from __future__ import annotations

import importlib.util

EXTRA_OF = {
    "datasets": "train", "pyarrow": "train", "scipy": "train", "matplotlib": "train",
    "tensorboard": "train", "pydicom": "dicom", "gradio": "app", "pandas": "app",
    "skimage": "app", "wandb": "trackers", "mlflow": "trackers", "onnx": "export",
    "onnxscript": "export", "onnxruntime": "export",
}  # fmt: skip


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""


def require(feature: str, *modules: str) -> None:
    """Raise `MissingExtraError` if any of `modules` (import names) is not installed."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        extras = ",".join(dict.fromkeys(EXTRA_OF[name] for name in missing))
        raise MissingExtraError(
            f"{feature} needs {', '.join(missing)}, which is not installed: "
            f"pip install 'mocoim_hub[{extras}]'"
        )
