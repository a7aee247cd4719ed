"""Export an encoder for serving without transformers (or, with ONNX, without PyTorch): ONNX for
onnxruntime and other ONNX runtimes, TorchScript (traced) for libtorch, or a `torch.export`
ExportedProgram for PyTorch 2 runtimes (AOTInductor, ExecuTorch).

The exported graph takes `pixel_values`, float32 `(batch, num_channels, crop height, crop width)`
with a dynamic batch, and returns `embedding` (`(batch, hidden_size)`, the model's
`pooler_output`), then the map of each layer asked for. Preprocessing stays outside the graph;
its settings are written beside it as `preprocessor_config.json`. Every export is run on the
real example images and compared with the PyTorch model; the differences go to `parity.json`.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from .configuration_mocoim import STAGE_NAMES
from .extras import require
from .image_processing_mocoim import MocoImImageProcessor
from .modeling_mocoim import LayerSpec, MocoImModel, resolve_layers, run_stages

__all__ = ["export_encoder", "EmbeddingEncoder", "ParityReport"]

ExportFormat = Literal["onnx", "torchscript", "exported-program"]
FILE_OF: dict[str, str] = {
    "onnx": "model.onnx",
    "torchscript": "model.pt",
    "exported-program": "model.pt2",
}
OPSET = 18  # ONNX opset of the export (onnxruntime >= 1.14 runs it)
PARITY_TOLERANCE = 1e-4  # largest |exported - PyTorch| accepted on the example images


class EmbeddingEncoder(nn.Module):
    """The encoder's ResNet as a plain module: `pixel_values -> (embedding, *layer maps)`. It
    shares the model's weights; nothing of transformers is left for a tracer to walk."""

    def __init__(self, model: MocoImModel, layers: Sequence[LayerSpec] = ()):
        super().__init__()
        self.encoder = model.encoder
        self.stages = resolve_layers(layers) if layers else []
        self.names = ["embedding", *(STAGE_NAMES[index] for index in self.stages)]

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        maps = run_stages(self.encoder, pixel_values)
        return (maps[-1].mean(dim=(2, 3)), *(maps[index] for index in self.stages))


@dataclass(frozen=True)
class ParityReport:
    """What `parity.json` says: the file, its outputs and how far they are from PyTorch's."""

    format: str
    file: str
    opset: int | None
    input: dict[str, list[int | str]]
    outputs: dict[str, list[int | str]]
    images: list[str]
    max_abs_difference: dict[str, float]
    tolerance: float
    torch_version: str

    @property
    def passed(self) -> bool:
        return max(self.max_abs_difference.values()) <= self.tolerance


def export_encoder(
    model: MocoImModel,
    processor: MocoImImageProcessor,
    output_dir: str | os.PathLike,
    format: ExportFormat = "onnx",
    layers: Sequence[LayerSpec] = (),
    opset: int = OPSET,
) -> ParityReport:
    """Write `output_dir/model.{onnx,pt,pt2}`, `preprocessor_config.json`, `config.json` and
    `parity.json` (the exported file run on the example images at batch 1 and 3, against PyTorch).

    `output_dir` must be new or empty. Raises `ValueError` for an unknown format or layer; the
    report's `passed` says whether the parity held (the files are kept either way).
    """
    if format not in FILE_OF:
        raise ValueError(f"Unknown format {format!r}; expected one of {', '.join(FILE_OF)}.")
    require(
        f"Exporting to {format}",
        *(("onnx", "onnxscript", "onnxruntime") if format == "onnx" else ()),
    )
    from .examples import example_images

    folder = Path(output_dir)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"{folder} exists and is not an empty folder; choose a new one.")
    folder.mkdir(parents=True, exist_ok=True)
    module = EmbeddingEncoder(model, layers).eval()
    names = module.names
    images = example_images()
    pixels = processor(list(images.values()), return_tensors="pt")["pixel_values"].float()
    path = folder / FILE_OF[format]
    _WRITERS[format](module, pixels, path, names, opset)
    run = _runner(format, path)
    with torch.inference_mode():
        expected = [t.numpy() for t in module(pixels)]
    differences = dict.fromkeys(names, 0.0)
    for rows in (slice(0, 1), slice(None)):  # batch 1 and batch 3: the batch is dynamic
        for name, got, want in zip(names, run(pixels[rows].numpy()), expected, strict=True):
            differences[name] = max(differences[name], float(np.abs(got - want[rows]).max()))
    report = ParityReport(
        format=format,
        file=path.name,
        opset=opset if format == "onnx" else None,
        input={"pixel_values": ["batch", *pixels.shape[1:]]},
        outputs={n: ["batch", *e.shape[1:]] for n, e in zip(names, expected, strict=True)},
        images=list(images),
        max_abs_difference=differences,
        tolerance=PARITY_TOLERANCE,
        torch_version=torch.__version__,
    )
    processor.to_json_file(folder / "preprocessor_config.json")
    model.config.to_json_file(folder / "config.json")
    (folder / "parity.json").write_text(
        json.dumps(asdict(report) | {"passed": report.passed}, indent=2)
    )
    return report


def _batch_dimension() -> dict[str, dict[int, torch.export.Dim]]:
    return {"pixel_values": {0: torch.export.Dim("batch", min=1, max=4096)}}


def _write_onnx(module, pixels, path, names, opset) -> None:
    torch.onnx.export(module, (pixels,), path, input_names=["pixel_values"], output_names=names,
                      dynamic_shapes=_batch_dimension(), opset_version=opset, dynamo=True,
                      external_data=False, verbose=False)  # fmt: skip


def _write_torchscript(module, pixels, path, names, opset) -> None:
    with _torchscript_deprecation_silenced():
        torch.jit.trace(module, pixels).save(str(path))


@contextlib.contextmanager
def _torchscript_deprecation_silenced() -> Iterator[None]:
    """PyTorch 2.14 deprecates TorchScript with a FutureWarning on every trace and load; the
    README says so once, and exports stay quiet."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"`torch\.jit\.\w+` is deprecated", FutureWarning)
        yield


def _write_exported_program(module, pixels, path, names, opset) -> None:
    torch.export.save(
        torch.export.export(module, (pixels,), dynamic_shapes=_batch_dimension()), path
    )


_WRITERS: dict[str, Callable] = {
    "onnx": _write_onnx,
    "torchscript": _write_torchscript,
    "exported-program": _write_exported_program,
}


def _runner(format: str, path: Path) -> Callable[[np.ndarray], list[np.ndarray]]:
    """The exported file loaded by its own runtime, as `pixel_values -> outputs`."""
    if format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda pixels: session.run(None, {"pixel_values": pixels})
    if format == "torchscript":
        with _torchscript_deprecation_silenced():
            loaded = torch.jit.load(str(path))
    else:
        loaded = torch.export.load(path).module()

    def run(pixels: np.ndarray) -> list[np.ndarray]:
        with torch.inference_mode():
            return [t.numpy() for t in loaded(torch.from_numpy(pixels))]

    return run
