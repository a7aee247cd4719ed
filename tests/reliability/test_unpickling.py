"""Loading safety: no code path unpickles an untrusted file. Audited in the source, and tried with
a pickle whose loading would run code (it makes a folder) placed where our loaders look."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from huggingface_hub import HfApi
from transformers import AutoModel

from mocoim_hub import MocoImModel
from mocoim_hub.pretraining.checkpoint import load_checkpoint

pytestmark = pytest.mark.reliability
ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*ROOT.glob("mocoim_hub/**/*.py"), *ROOT.glob("training/*.py"), ROOT / "app.py"])


class Payload:
    """Unpickling this calls os.mkdir(marker): code execution, visibly."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def _keyword(call: ast.Call, name: str):
    for keyword in call.keywords:
        if keyword.arg == name and isinstance(keyword.value, ast.Constant):
            return keyword.value.value
    return None


def unsafe_loads(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = ast.unparse(node.func.value)
        call = f"{owner}.{node.func.attr}"
        if call == "torch.load" and _keyword(node, "weights_only") is not True:
            found.append(f"{path.name}:{node.lineno} torch.load without weights_only=True")
        elif call == "np.load" and _keyword(node, "allow_pickle") is True:
            found.append(f"{path.name}:{node.lineno} np.load with allow_pickle=True")
        elif owner in ("pickle", "cPickle", "dill", "joblib") and node.func.attr.startswith("load"):
            found.append(f"{path.name}:{node.lineno} {call}")
    return found


def test_no_source_file_unpickles():
    assert len(SOURCES) > 30
    assert [hit for path in SOURCES for hit in unsafe_loads(path)] == []


def test_audit_catches_what_it_looks_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import torch, pickle\ntorch.load(p)\npickle.loads(b)\ntorch.load(p, weights_only=True)\n"
    )
    assert len(unsafe_loads(bad)) == 2


def test_a_booby_trapped_checkpoint_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"model": Payload(marker), "batch": 3}, tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match="Could not read checkpoint"):
        load_checkpoint(tmp_path / "checkpoint.pt")
    converted = subprocess.run(
        [sys.executable, "-m", "mocoim_hub.commands.convert", str(tmp_path / "checkpoint.pt"), str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert converted.returncode != 0 and "Traceback" not in converted.stderr
    assert not marker.exists()


def test_hub_repo_with_a_pickle_next_to_safetensors_loads_safetensors_only(
    hub, saved_model_dir, tmp_path
):
    marker = tmp_path / "pwned"
    folder = tmp_path / "repo"
    folder.mkdir()
    for file in Path(saved_model_dir).iterdir():
        (folder / file.name).write_bytes(file.read_bytes())
    torch.save({"conv1.weight": Payload(marker)}, folder / "pytorch_model.bin")
    HfApi().create_repo("org/both")
    HfApi().upload_folder(folder_path=folder, repo_id="org/both")
    hub.requests.clear()
    for load in (MocoImModel.from_pretrained, AutoModel.from_pretrained):  # no trust_remote_code
        model = load("org/both")
        assert type(model).__name__ == "MocoImModel"
    fetched = [path for method, path in hub.requests if method == "GET"]
    assert any(path.endswith("model.safetensors") for path in fetched)
    assert not any(path.endswith("pytorch_model.bin") for path in fetched)
    assert not marker.exists()
