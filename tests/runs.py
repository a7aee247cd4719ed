"""Helpers for tests that run pretraining in child processes: kill one mid-run, compare weights."""

import os
import signal
import subprocess
import time
from pathlib import Path

import torch
from safetensors.torch import load_file


def model_weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "model" / "model.safetensors")


def assert_same_weights(run: Path, expected: dict[str, torch.Tensor] | Path) -> None:
    """The model a run saved equals `expected` (weights, or another run's folder) within 1e-6."""
    if isinstance(expected, Path):
        expected = model_weights(expected)
    got = model_weights(run)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert torch.allclose(got[name], value, atol=1e-6), name


def kill_after_a_checkpoint(command: list[str], run: Path) -> int:
    """Start `command`, SIGKILL it with its children once `run/checkpoint.pt` exists, and return the
    batch that checkpoint holds."""
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 300
    while not (run / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # a launcher and all its ranks
    assert process.wait() == -signal.SIGKILL
    return torch.load(run / "checkpoint.pt", weights_only=True)["batch"]
