"""`mocoim-pretrain` under `torchrun` and `accelerate launch` (2 gloo processes on CPU): the same
training as one process with the same global batch, and a node loss resumed to the same weights."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from runs import assert_same_weights, kill_after_a_checkpoint
from test_pretrain import SCRIPT, TINY

from mocoim_hub.pretraining.checkpoint import load_checkpoint

pytestmark = pytest.mark.multiprocess


def launch(launcher: str, output: Path, *extra: str) -> list[str]:
    """The command that runs the script on 2 CPU processes with `torchrun` or `accelerate launch`."""
    prefix = {
        "torchrun": ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
        "accelerate": ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                       "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                       "--main_process_port", "0"],
    }[launcher]  # fmt: skip
    return [sys.executable, *prefix, str(SCRIPT), "--output-dir", str(output), *TINY,
            "--device", "cpu", *extra]  # fmt: skip


def run(command: list[str]) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.parametrize("loss", ["mse", "barlow"])
def test_two_process_ddp_matches_one_process_with_the_same_global_batch(tmp_path, loss):
    """torchrun with gloo on CPU: 2 x 16 images vs one process of 32 whose BatchNorm is split in
    the same two groups. Both shuffle the keys across the groups (DDP: across ranks, the default
    there) and Barlow-Twins sees the global batch; losses, queue and trained weights agree."""
    # channels_last is off on both sides: with it, CPU conv kernels for batches of 16 and 32 round
    # differently and the runs drift apart by ~1e-3 within three steps. Key momentum 0.99, not the
    # demo's 0.9: with 0.9 the third Barlow step amplifies rounding so much that one process run
    # with 1 and with 2 threads already differs by 3e-4 in conv1; with 0.99 that stays below 2e-6.
    common = ["--max-steps", "3", "--intermediate-loss", loss, "--checkpoint-every", "100",
              "--no-channels-last", "--momentum", "0.99"]  # fmt: skip
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    run([sys.executable, str(SCRIPT), "--output-dir", str(single), *TINY, *common,
         "--bn-splits", "2"])  # fmt: skip
    run(launch("torchrun", ddp, *common))
    one, two = (
        [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        for folder in (single, ddp)
    )
    for a, b in zip(one, two, strict=True):
        for name in ("loss", "infonce", "intermediate"):
            assert a[name] == pytest.approx(b[name], rel=1e-4, abs=1e-5), (a["step"], name)
    state_one = load_checkpoint(single / "checkpoint.pt")["model"]
    state_two = load_checkpoint(ddp / "checkpoint.pt")["model"]
    assert torch.allclose(state_one["queue"], state_two["queue"], atol=1e-4)
    assert int(state_one["queue_ptr"]) == int(state_two["queue_ptr"]) == 96 % 64
    trained = [
        k
        for k in state_one
        if k.startswith(("encoder_q.", "head_q.")) and "running" not in k and "num_batches" not in k
    ]
    for name in trained:
        assert torch.allclose(state_one[name], state_two[name], atol=1e-4), name


def test_accelerate_run_killed_on_every_rank_resumes_under_torchrun_to_the_same_weights(tmp_path):
    """A node loss: all processes of an `accelerate launch` run SIGKILLed after a checkpoint, then
    `torchrun --resume` on the same folder ends where an uninterrupted torchrun run ends."""
    steps = ["--max-steps", "6"]
    run(launch("torchrun", tmp_path / "straight", *steps))
    killed = tmp_path / "killed"
    assert 0 < kill_after_a_checkpoint(launch("accelerate", killed, *steps), killed) < 6
    resumed = run(launch("torchrun", killed, *steps, "--resume"))
    assert "resumed from" in resumed.stdout
    assert_same_weights(killed, tmp_path / "straight")
