"""`mocoim-pretrain`, the thin command over `pretrain()`: the same weights as the library, its
exceptions as exit codes with one-line messages, SIGTERM as a checkpointed stop (exit 143)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mocoim_hub.commands.pretrain import main
from mocoim_hub.pretraining import Pretrainer, pretrain

SCRIPT = Path(__file__).parents[2] / "training" / "pretrain.py"
TINY = [
    "--recipe", "demo", "--batch-size", "32", "--queue-size", "64", "--barlow-dim", "64",
    "--num-workers", "0", "--precision", "fp32", "--log-every", "1", "--checkpoint-every", "2",
    "--knn-every", "0", "--report-to", "none",
]  # fmt: skip
TINY_FIELDS = dict(batch_size=32, queue_size=64, barlow_dim=64, num_workers=0, precision="fp32",
                   log_every=1, checkpoint_every=2, knn_every=0, report_to=[])  # fmt: skip


def cli(output: Path, *extra: str) -> subprocess.CompletedProcess:
    """The command as a user runs it, in a fresh process."""
    return subprocess.run([sys.executable, str(SCRIPT), "--output-dir", str(output), *TINY, *extra],
                          capture_output=True, text=True, timeout=600)  # fmt: skip


def test_command_and_library_train_identical_weights(tmp_path):
    result = cli(tmp_path / "cli", "--max-steps", "3", "--intermediate-loss", "mse")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Next: mocoim-finetune --models" in result.stdout
    pretrain("demo", tmp_path / "library", max_steps=3, intermediate_loss="mse", **TINY_FIELDS)
    by_cli, by_library = (load_file(tmp_path / r / "model" / "model.safetensors")
                          for r in ("cli", "library"))  # fmt: skip
    assert by_cli.keys() == by_library.keys()
    for name in by_cli:
        assert torch.allclose(by_cli[name], by_library[name], atol=1e-6), name


def test_failures_are_one_line_exits(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["--output-dir", str(run), *TINY, "--max-steps", "1"]) == 0
    with pytest.raises(SystemExit) as exists:
        main(["--output-dir", str(run), *TINY, "--max-steps", "1"])
    assert exists.value.code.startswith(f"{run / 'checkpoint.pt'} exists: pass --resume")
    with pytest.raises(SystemExit) as bad_recipe:
        main(["--output-dir", str(tmp_path / "other"), *TINY, "--intermediate-loss", "nope"])
    assert (
        bad_recipe.value.code == 2 and "Unknown intermediate_loss 'nope'" in capsys.readouterr().err
    )
    with pytest.raises(SystemExit) as no_repo:
        main(["--output-dir", str(tmp_path / "other"), *TINY, "--push-to-hub"])
    assert no_repo.value.code == 2 and "--hub-model-id" in capsys.readouterr().err
    with pytest.raises(SystemExit) as no_checkpoint:
        main(["--output-dir", str(tmp_path / "other"), *TINY, "--resume"])
    assert "Asked to resume, but there is no" in no_checkpoint.value.code
    assert not (tmp_path / "other").exists()


def test_sigterm_checkpoints_the_step_and_exits_143_then_resume_finishes(
    tmp_path, monkeypatch, capsys
):
    """SIGTERM arrives during step 2 (as a scheduler's preemption would): the command finishes
    the step, checkpoints it, exits 143 and gives the signal's handler back."""
    step = Pretrainer.step

    def step_then_signal(trainer, micro_batches):
        out = step(trainer, micro_batches)
        if trainer.steps_done == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    monkeypatch.setattr(Pretrainer, "step", step_then_signal)
    before = signal.getsignal(signal.SIGTERM)
    run = tmp_path / "run"
    assert main(["--output-dir", str(run), *TINY, "--max-steps", "4"]) == 128 + signal.SIGTERM
    assert "Stopped by SIGTERM after step 2" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is before
    assert torch.load(run / "checkpoint.pt", weights_only=True)["batch"] == 2
    monkeypatch.setattr(Pretrainer, "step", step)
    assert main(["--output-dir", str(run), *TINY, "--max-steps", "4", "--resume"]) == 0
    assert "resumed from" in capsys.readouterr().out and (run / "model" / "config.json").exists()


@pytest.mark.compile
def test_resume_alone_continues_the_runs_own_recipe_and_refuses_changes(tmp_path, capsys):
    """`--output-dir RUN --resume` typed alone (as after a crash) continues with the run's own
    recipe.json; a flag that would change it is refused in one line before anything is written."""
    run = tmp_path / "run"
    main(["--output-dir", str(run), *TINY, "--max-steps", "2", "--lr", "0.01"])
    recipe = (run / "recipe.json").read_text()
    with pytest.raises(SystemExit) as refused:
        main(["--output-dir", str(run), "--resume", "--lr", "0.02", "--batch-size", "16"])
    assert refused.value.code.startswith(f"Cannot resume {run} with another recipe")
    assert "lr (run: 0.01, now: 0.02), batch_size (run: 32, now: 16)" in refused.value.code
    assert (run / "recipe.json").read_text() == recipe
    capsys.readouterr()
    assert main(["--output-dir", str(run), "--resume", "--max-steps", "3"]) == 0
    assert "resumed from" in capsys.readouterr().out
    resumed = json.loads((run / "recipe.json").read_text())
    assert resumed["lr"] == 0.01 and resumed["max_steps"] == 3 and resumed["batch_size"] == 32


def test_compiled_run_resumes_an_eager_checkpoint_and_matches_eager(tmp_path):
    """`compile` (torch.compile of the encoder passes) continues an eager run's checkpoint: the
    same losses and weights as continuing it eagerly."""
    pretrain("demo", tmp_path / "eager", max_steps=1, **TINY_FIELDS)
    (tmp_path / "compiled").mkdir()
    (tmp_path / "compiled" / "checkpoint.pt").write_bytes(
        (tmp_path / "eager" / "checkpoint.pt").read_bytes()
    )
    runs = {name: pretrain("demo", tmp_path / name, max_steps=2, resume=True,
                           compile=name == "compiled", **TINY_FIELDS)
            for name in ("eager", "compiled")}  # fmt: skip
    for part in ("loss", "infonce", "intermediate"):
        assert runs["eager"].metrics[part] == pytest.approx(
            runs["compiled"].metrics[part], rel=1e-4
        )
    eager, compiled = (runs[name].encoder.state_dict() for name in ("eager", "compiled"))
    for name in eager:
        assert torch.allclose(eager[name].float(), compiled[name].float(), atol=1e-5), name
