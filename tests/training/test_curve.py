"""The learning-curve study end to end, in this process: a demo-like recipe on 180 Fashion-MNIST
images of three classes, pretraining runs cut to 2 steps."""

import json
from pathlib import Path

import pytest
from curve import main

from studies.runs import StaleRunError

pytestmark = pytest.mark.studies

TINY = ["--log-every", "1", "--max-steps", "2", "--report-to", "none"]


def curve(tmp_path: Path, recipe: Path, *arguments: str, pretrain=TINY) -> None:
    main([*arguments, "--recipe", str(recipe), "--output-dir", str(tmp_path / "results"),
          "--work-dir", str(tmp_path / "runs"), "--subset-seeds", "0", "1", "--fractions", "0.1",
          "--pretrain-args", *pretrain])  # fmt: skip


def test_curve_evaluates_every_snapshot_against_random_init_and_resumes(tmp_path, recipe, capsys):
    arguments = ["curve", "--methods", "moco", "--random-seeds", "0"]
    pretrain = [*TINY, "--snapshot-every", "1"]
    curve(tmp_path, recipe, *arguments, pretrain=pretrain)
    assert "curve: complete" in capsys.readouterr().out
    study = json.loads((tmp_path / "results" / "curve.json").read_text())
    snapshots = study["runs"]["moco-s0"]
    assert [s["step"] for s in snapshots] == [1, 2]
    assert snapshots[0]["training_s"] < snapshots[1]["training_s"]
    for snapshot in snapshots:
        splits = {(p["fraction"], p["split"]): p for p in snapshot["probes"]}
        assert set(splits) == {(0.1, "validation"), (0.1, "test")}
        assert all(p["seeds"] == 2 and 0.1 < p["mean"] < 1 for p in splits.values())
    assert {(r["encoder"], r["split"]) for r in study["random_init"]} == {
        ("random-s0", "validation"), ("random-s0", "test")
    }  # fmt: skip
    for name in ("curve.png", "monitor.png", "curve.md"):
        assert (tmp_path / "results" / name).stat().st_size > 0
    table = (tmp_path / "results" / "curve.md").read_text()
    assert "| random-s0 | 0 | 0 |" in table and "| moco-s0 | 0.333 |" in table  # step 1 of 3

    checkpoint = tmp_path / "runs" / "curve" / "moco-s0" / "checkpoint.pt"
    written = checkpoint.stat().st_mtime_ns
    curve(tmp_path, recipe, *arguments, pretrain=pretrain)  # all on disk: nothing trains again
    assert checkpoint.stat().st_mtime_ns == written

    edited = tmp_path / "edited.json"  # the recipe changed since: the old run is not reused
    edited.write_text(json.dumps({**json.loads(recipe.read_text()), "momentum": 0.5}))
    with pytest.raises(StaleRunError, match=r"momentum=0.9 \(now 0.5\).*Move the folder away"):
        curve(tmp_path, edited, *arguments, pretrain=pretrain)
    assert checkpoint.stat().st_mtime_ns == written


def test_ablations_score_variants_on_the_validation_split(tmp_path, recipe, capsys):
    curve(tmp_path, recipe, "ablations", "--variants", "base", "lr 0.12", "--epochs", "1")
    assert "ablations: complete" in capsys.readouterr().out
    table = (tmp_path / "results" / "ablations.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| base") or "lr 0.12" in line]
    assert len(rows) == 2
    assert "**validation split**" in table
    scores = json.loads(
        (tmp_path / "runs" / "ablations" / "lr-0.12" / "validation.json").read_text()
    )
    assert 0 < scores["knn"] <= 1
    assert {p["split"] for p in scores["probes"]} == {"validation"}


def test_no_time_left_trains_nothing(tmp_path, recipe, capsys):
    curve(
        tmp_path, recipe, "curve", "--methods", "moco", "--random-seeds", "0", "--max-minutes", "0"
    )
    assert "not complete; rerun to continue" in capsys.readouterr().out
    assert not (tmp_path / "runs" / "curve" / "moco-s0").exists()
