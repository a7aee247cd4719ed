"""Exports run by their own runtimes give PyTorch's outputs (1- and 3-channel models, two sizes,
batch 1 and 3), quietly; torch.jit.script is refused in one line; the serving guide's numpy/onnxruntime
serving code reproduces the PyTorch pipeline's embedding."""

import json
import re
import warnings
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

from mocoim_hub import MocoImConfig, MocoImImageProcessor, MocoImModel
from mocoim_hub.commands import export
from mocoim_hub.export import export_encoder

GUIDE = Path(__file__).parents[1] / "docs" / "guides" / "embeddings-and-serving.md"


def random_encoder(num_channels: int, image_size: int) -> tuple[MocoImModel, MocoImImageProcessor]:
    torch.manual_seed(num_channels)
    config = MocoImConfig(backbone="resnet18", num_channels=num_channels, image_size=image_size)
    return MocoImModel(config).eval(), MocoImImageProcessor.from_model_config(config)


def run_exported(folder: Path, pixels: torch.Tensor) -> list[np.ndarray]:
    """The exported file loaded as a deployment would load it."""
    if (folder / "model.onnx").exists():
        session = onnxruntime.InferenceSession(str(folder / "model.onnx"))
        return session.run(None, {"pixel_values": pixels.numpy()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # PyTorch deprecates torch.jit.load
        loaded = torch.jit.load(str(folder / "model.pt"))
    with torch.inference_mode():
        return [t.numpy() for t in loaded(pixels)]


@pytest.mark.parametrize("format", ["onnx", "torchscript"])
@pytest.mark.parametrize(("num_channels", "image_size"), [(1, 32), (3, 64)])
def test_exported_outputs_equal_pytorch(tmp_path, format, num_channels, image_size, capfd):
    model, processor = random_encoder(num_channels, image_size)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = export_encoder(model, processor, tmp_path, format, layers=["layer2"])
    assert [str(w.message) for w in caught] == [] and capfd.readouterr() == ("", "")
    assert report.passed and json.loads((tmp_path / "parity.json").read_text())["passed"]
    assert report.outputs == {"embedding": ["batch", 512],
                              "layer2": ["batch", 128, image_size // 8, image_size // 8]}  # fmt: skip
    pixels = torch.rand(5, num_channels, image_size, image_size)  # a batch size not exported
    with torch.inference_mode():
        expected = model(pixels, output_hidden_states=True)
    embedding, layer2 = run_exported(tmp_path, pixels)
    np.testing.assert_allclose(embedding, expected.pooler_output.numpy(), atol=1e-4)
    np.testing.assert_allclose(layer2, expected.hidden_states[2].numpy(), atol=1e-4)
    saved = MocoImImageProcessor.from_pretrained(tmp_path)
    assert saved.to_dict() == processor.to_dict()


def test_exported_program_runs_at_any_batch(tmp_path):
    model, processor = random_encoder(1, 32)
    report = export_encoder(model, processor, tmp_path, "exported-program")
    program = torch.export.load(tmp_path / "model.pt2").module()
    pixels = torch.rand(2, 1, 32, 32)
    with torch.inference_mode():
        (embedding,) = program(pixels)
        np.testing.assert_allclose(embedding, model(pixels).pooler_output, atol=1e-5)
    assert report.passed and report.opset is None


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_script_is_refused_in_one_line():
    model, _ = random_encoder(1, 32)
    with pytest.raises(
        TypeError, match=r"^MocoImModel cannot be compiled by torch.jit.script; trace"
    ) as refused:
        torch.jit.script(model)
    assert "\n" not in str(refused.value) and "mocoim-export" in str(refused.value)


def test_the_command_writes_new_folders_only(tmp_path, saved_model_dir, capsys):
    out = tmp_path / "onnx"
    export.main([saved_model_dir, str(out), "--layers", "layer3"])
    printed = capsys.readouterr().out
    assert "model.onnx (onnx, opset 18): pixel_values ('batch', 1, 32, 32) -> embedding" in printed
    assert "parity on 3 example images" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json", "model.onnx", "parity.json", "preprocessor_config.json"
    ]  # fmt: skip
    with pytest.raises(SystemExit, match="exists and is not an empty folder"):
        export.main([saved_model_dir, str(out)])


def test_the_guides_serving_code_gives_the_pipeline_embedding(tmp_path, monkeypatch):
    """The serving guide's block runs in a folder holding an export of a 1-channel 64 px model;
    its numpy/PIL preprocessing then onnxruntime give what the PyTorch pipeline gives."""
    text = GUIDE.read_text(encoding="utf-8")
    section = text[text.index("## Serving without PyTorch") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    model, processor = random_encoder(1, 64)
    export_encoder(model, processor, tmp_path / "runs" / "demo" / "onnx")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, str(GUIDE), "exec"), namespace)
    for image in ("fundus.png", "scan.png"):
        with torch.inference_mode():
            expected = model(**processor(image)).pooler_output[0].numpy()
        got = namespace["embed"](image)
        cosine = got @ expected / np.linalg.norm(got) / np.linalg.norm(expected)
        assert cosine > 0.9999, (image, cosine)
