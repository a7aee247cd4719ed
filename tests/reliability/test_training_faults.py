"""Pretraining under faults: SIGKILL and SIGTERM at random points and inside a checkpoint write or
an evaluation, a full disk while saving, a NaN loss. Whatever happens, the run resumes to the
weights of an uninterrupted run and a checkpoint on disk is never half-written."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from functools import cache
from pathlib import Path

import pytest
import torch
from faulty_pretrain import SCRIPT
from runs import assert_same_weights, kill_after_a_checkpoint, model_weights

pytestmark = [pytest.mark.faults, pytest.mark.reliability, pytest.mark.slow]

HARNESS = Path(__file__).with_name("faulty_pretrain.py")
STEPS = 12
RUN = [
    "--recipe", "demo", "--batch-size", "32", "--queue-size", "64", "--barlow-dim", "64",
    "--num-workers", "0", "--precision", "fp32", "--log-every", "1", "--checkpoint-every", "3",
    "--max-steps", str(STEPS), "--knn-every", "0",  # the monitor only where a test asks for it
]  # fmt: skip
KNN = ["--knn-every", "4"]


def command(output: Path, extra=(), fault: tuple[str, int] | None = None) -> list[str]:
    resume = ["--resume"] if (output / "checkpoint.pt").exists() else []
    arguments = ["--output-dir", str(output), *RUN, *extra, *resume]
    if fault is None:
        return [sys.executable, str(SCRIPT), *arguments]
    return [sys.executable, str(HARNESS), fault[0], str(fault[1]), "--", *arguments]


def run(output: Path, extra=(), fault=None, **env) -> subprocess.CompletedProcess:
    return subprocess.run(command(output, extra, fault), capture_output=True, text=True,
                          timeout=600, env={**os.environ, **env})  # fmt: skip


def start(output: Path, extra=(), fault=None, **env) -> subprocess.Popen:
    return subprocess.Popen(command(output, extra, fault), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **env})  # fmt: skip


@cache
def uninterrupted(root: Path, extra: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    output = root / ("straight" + "".join(extra))
    result = run(output, extra)
    assert result.returncode == 0, result.stderr[-2000:]
    return model_weights(output)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("faults")


def checkpointed_batch(output: Path) -> int:
    """The step a checkpoint holds; it must load completely (never half-written)."""
    if not (output / "checkpoint.pt").exists():
        return 0
    state = torch.load(output / "checkpoint.pt", weights_only=True)
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    return state["batch"]


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert process.poll() is None, process.stderr.read()[-2000:]
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_signals_at_random_points_always_resume_to_the_same_weights(root):
    """SIGKILL or SIGTERM after a random delay, again and again, until a run gets to the end."""
    long = ("--max-steps", "40")  # about 15 s of training after about 5 s of start-up
    expected = uninterrupted(root, long)
    output, rng, faults = root / "random", random.Random(0), []
    finished = False
    for _ in range(8):
        process = start(output, long)
        try:
            finished = process.wait(timeout=rng.uniform(3.0, 9.0)) == 0
        except subprocess.TimeoutExpired:
            kind = (signal.SIGKILL, signal.SIGTERM)[len(faults) % 2]  # at a random moment
            before = checkpointed_batch(output)
            process.send_signal(kind)
            finished = process.wait(timeout=120) == 0  # SIGTERM while saving the model: done
            stderr = process.stderr.read()
            if kind == signal.SIGTERM and process.returncode not in (0, -signal.SIGTERM):
                # handled at the next step boundary: a checkpoint of that step, then exit 143
                assert process.returncode == 128 + signal.SIGTERM, stderr[-2000:]
                assert "Stopped by SIGTERM" in stderr and "--resume" in stderr
            after = checkpointed_batch(output)
            assert before <= after <= 40
            faults.append((kind.name, before, after))
        if finished:
            break
    if not finished:
        result = run(output, long)
        assert result.returncode == 0, result.stderr[-2000:]
    assert len(faults) >= 3, faults
    assert_same_weights(output, expected)
    records = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()
               if line.startswith("{") and line.endswith("}")]  # fmt: skip
    assert {r["step"] for r in records} == set(range(1, 41))
    print(f"faults injected: {faults}")


@pytest.mark.parametrize("augmentation", ["--batch-augmentation", "--no-batch-augmentation"])
def test_killed_run_resumes_to_the_same_weights(root, augmentation):
    """SIGKILL after the first checkpoint, resume, and end where an uninterrupted run ends, with
    views drawn per batch on the device or per image in the loader."""
    extra = (augmentation,)
    expected = uninterrupted(root, extra)
    killed = root / f"killed{augmentation}"
    assert 0 < kill_after_a_checkpoint(command(killed, extra), killed) < STEPS
    result = run(killed, extra)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "resumed from" in result.stdout
    assert_same_weights(killed, expected)


@pytest.mark.parametrize("kind", [signal.SIGKILL, signal.SIGTERM])
def test_signal_during_a_checkpoint_write(root, kind):
    """The second checkpoint write stops half-way and gets the signal there: the first
    checkpoint stays in place (SIGKILL) or the write finishes first (SIGTERM)."""
    expected = uninterrupted(root)
    output = root / f"during-write-{kind.name}"
    marker = root / f"{kind.name}.marker"
    process = start(output, fault=("slow-checkpoint", 2), FAULT_MARKER=str(marker),
                    FAULT_SLEEP_S="600" if kind == signal.SIGKILL else "2")  # fmt: skip
    wait_for(marker, process)
    process.send_signal(kind)
    process.wait(timeout=120)
    if kind == signal.SIGKILL:
        assert process.returncode == -signal.SIGKILL
        assert checkpointed_batch(output) == 3  # the first checkpoint, whole
        assert (output / ".checkpoint.pt.tmp").exists()  # the half-written one never replaced it
    else:
        assert process.returncode == 128 + signal.SIGTERM
        assert checkpointed_batch(output) == 6  # the write finished, then the run stopped
    result = run(output)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not (output / ".checkpoint.pt.tmp").exists()
    assert_same_weights(output, expected)


def test_sigkill_during_an_evaluation(root):
    expected = uninterrupted(root, tuple(KNN))
    output, marker = root / "during-evaluation", root / "evaluation.marker"
    process = start(output, KNN, fault=("slow-evaluation", 3), FAULT_MARKER=str(marker))
    wait_for(marker, process)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=120)
    assert checkpointed_batch(output) == 6  # the 3rd evaluation (steps 0, 4, 8) died; 6 is on disk
    result = run(output, KNN)
    assert result.returncode == 0, result.stderr[-2000:]
    assert_same_weights(output, expected)


def test_full_disk_while_saving_keeps_the_previous_checkpoint(root):
    output = root / "full-disk"
    result = run(output, fault=("full-disk", 2))
    assert result.returncode == 1
    (message,) = [line for line in result.stderr.splitlines() if "Could not write" in line]
    assert "Could not write the checkpoint" in message and "No space left on device" in message
    assert "previous checkpoint" in message and "--resume" in message
    assert "Traceback" not in result.stderr
    assert checkpointed_batch(output) == 3
    assert not (output / ".checkpoint.pt.tmp").exists()
    resumed = run(output)  # space freed: the run continues from step 3
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_same_weights(output, uninterrupted(root))


def test_injected_nan_loss_stops_cleanly(root):
    output = root / "nan"
    result = run(output, fault=("nan-loss", 5))
    assert result.returncode == 1
    assert "the loss became non-finite at step 4" in result.stderr
    assert "Traceback" not in result.stderr
    assert checkpointed_batch(output) == 3  # the last good one
    assert not (output / "model").exists()
