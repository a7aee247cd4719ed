"""A local model path that names nothing fails at once, in the library, every command and the app."""

import os
import subprocess
import time

import pytest

from mocoim_hub import MocoImImageProcessor, MocoImModel, ModelNotFoundError
from mocoim_hub.demo import load_model
from mocoim_hub.sources import check_model_source, looks_local


@pytest.mark.parametrize(
    ("source", "local"),
    [("runs/demo/modle", True), ("./model", True), ("/abs/model", True), ("~/model", True),
     ("runs\\model", True), ("org/name", False), ("gpt2", False)],
)  # fmt: skip
def test_paths_are_told_from_hub_ids(source, local):
    assert looks_local(source) is local


def test_an_existing_parent_makes_a_two_part_name_local(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert not looks_local("run/model")
    (tmp_path / "run").mkdir()
    assert looks_local("run/model")


def test_a_typo_names_the_closest_folder(tmp_path, saved_model_dir):
    (tmp_path / "runs" / "demo" / "model").mkdir(parents=True)
    with pytest.raises(ModelNotFoundError) as error:
        check_model_source(tmp_path / "runs" / "demo" / "modle")
    message = str(error.value)
    assert "No model folder at" in message and "did you mean" in message
    assert str(tmp_path / "runs" / "demo" / "model") in message and "\n" not in message
    check_model_source(saved_model_dir)  # a folder passes
    check_model_source("org/name")  # so does a Hub id: the Hub decides


def test_a_file_is_not_a_model_folder(tmp_path):
    (tmp_path / "weights.safetensors").write_bytes(b"")
    with pytest.raises(ModelNotFoundError, match="is a file; expected a model folder"):
        check_model_source(tmp_path / "weights.safetensors")


@pytest.mark.parametrize("load", [MocoImModel.from_pretrained, MocoImImageProcessor.from_pretrained, load_model])  # fmt: skip
def test_loaders_fail_fast_without_a_network_attempt(tmp_path, monkeypatch, load):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # a Hub attempt would retry for ~30 s
    began = time.perf_counter()
    with pytest.raises((ModelNotFoundError, ValueError), match="No model folder at"):
        load(str(tmp_path / "runs" / "modle"))
    assert time.perf_counter() - began < 2


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [["mocoim-finetune", "--models", "runs/demo/modle", "random"],
     ["mocoim-analyze", "--models", "runs/demo/modle", "random"],
     ["mocoim-extract", "--model", "runs/demo/modle"]],
)  # fmt: skip
def test_commands_stop_with_one_line_and_write_nothing(tmp_path, command):
    (tmp_path / "runs" / "demo" / "model").mkdir(parents=True)
    output = ["--output-dir", "out"] if command[0] != "mocoim-extract" else ["--output", "out"]
    env = {**os.environ, "HF_HUB_OFFLINE": "0"}
    result = subprocess.run(command + output, cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "No model folder at runs/demo/modle (did you mean runs/demo/model?). Make one with "
        "`mocoim-pretrain --recipe demo --output-dir runs/demo`, or give a Hub id (org/name)."
    ]
    assert not (tmp_path / "out").exists()
