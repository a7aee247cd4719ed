"""Never overwriting what the package did not write: model folders replaced whole, a user's files
and edited cards refused by name (with force to override), a run folder holding someone else's
log left as it is."""

import pytest

from mocoim_hub import MocoImImageProcessor, MocoImModel
from mocoim_hub.commands import analyze, finetune
from mocoim_hub.hub import save_for_hub
from mocoim_hub.manifest import ForeignFilesError, foreign_files
from mocoim_hub.model_card import load_evaluations, save_evaluations
from mocoim_hub.pretraining import Pretrainer
from mocoim_hub.results import Estimate


def save(folder, config, **options):
    return save_for_hub(MocoImModel(config), MocoImImageProcessor.from_model_config(config),
                        folder, "org/tiny", **options)  # fmt: skip


def test_a_model_saved_again_replaces_the_old_one_whole(tmp_path, tiny_config):
    curve = tmp_path / "curve.png"
    curve.write_bytes(b"\x89PNG curve")
    result = Estimate("tiny", "linear", 0.01, "accuracy", 0.5, 0.4, 0.6, dataset="default")
    folder = save(tmp_path / "model", tiny_config, loss_curve=curve, evaluations=[result])
    save_evaluations(
        [Estimate("tiny", "linear", 0.1, "accuracy", 0.6, 0.5, 0.7, dataset="default")], folder
    )
    assert foreign_files(folder) == []  # results added later are recorded as ours too
    save(folder, tiny_config)  # a new model: no curve, no results
    names = {p.name for p in folder.iterdir()}
    assert "loss_curves.png" not in names and "eval_results.json" not in names
    assert load_evaluations(folder) == [] and foreign_files(folder) == []
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model-")]  # no staging left


def test_an_edited_card_or_a_users_file_is_refused_by_name(tmp_path, tiny_config):
    folder = save(tmp_path / "model", tiny_config)
    card = folder / "README.md"
    card.write_text(card.read_text() + "\nMy notes on this model.\n")
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(
        ForeignFilesError, match="did not write, or that were changed since: README.md, notes.txt"
    ):
        save(folder, tiny_config)
    assert "My notes" in card.read_text() and (folder / "notes.txt").exists()
    save(folder, tiny_config, force=True)
    assert "My notes" not in card.read_text() and not (folder / "notes.txt").exists()


def test_a_new_run_leaves_someone_elses_log_alone(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"my": "own log"}\n')
    with pytest.raises(ForeignFilesError, match="metrics.jsonl. Writing a new run there"):
        Pretrainer("demo", run, max_steps=1)
    assert (run / "metrics.jsonl").read_text() == '{"my": "own log"}\n'
    assert sorted(p.name for p in run.iterdir()) == ["metrics.jsonl"]


@pytest.mark.parametrize(
    "command, theirs",
    [(finetune.main, "results.md"), (analyze.main, "analysis.md"), (analyze.main, "splits.csv")],
    ids=["finetune", "analyze", "analyze-data-record"],
)
def test_an_evaluation_leaves_someone_elses_results_alone(tmp_path, capsys, command, theirs):
    """Refused before any model or image is read, naming the file; nothing is written."""
    out = tmp_path / "out"
    out.mkdir()
    (out / theirs).write_text("my own notes")
    with pytest.raises(SystemExit) as stopped:
        command(["--models", "random", "random", "--output-dir", str(out)])
    assert stopped.value.code == 1
    assert f"did not write, or that were changed since: {theirs}." in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == [theirs]
    assert (out / theirs).read_text() == "my own notes"


def test_paths_are_recorded_whether_named_inside_or_held_from_the_cwd(tmp_path, monkeypatch):
    from mocoim_hub.manifest import record, unclaimed

    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "runs" / "out"
    folder.mkdir(parents=True)
    for name in ("a.json", "b.md", "c.png"):
        (folder / name).write_text(name)
    record("runs/out", ["runs/out/a.json", "b.md", folder / "c.png"])
    assert unclaimed("runs/out", ["a.json", "b.md", "c.png"]) == []
    (folder / "b.md").write_text("edited by hand")
    assert unclaimed("runs/out", ["a.json", "b.md", "c.png"]) == ["b.md"]
