"""Results read back and compared: a results.json round trip, clear errors for other files, and a
run's table beside a reference measured earlier on the same data."""

import json

import pytest

from mocoim_hub.commands.finetune import main as finetune_main
from mocoim_hub.finetune import (
    SweepResults,
    markdown_table,
    read_results,
    with_reference,
)
from mocoim_hub.results import Estimate


def results(models, dataset="toy data", modes=("linear",)) -> SweepResults:
    summary = [Estimate(model, mode, 0.01, "accuracy", value, value - 0.01, value + 0.01, 3)
               for mode in modes for model, value in models.items()]  # fmt: skip
    return SweepResults("multi-class", dataset, [], summary)


def test_read_results_round_trips_a_results_json(tmp_path):
    written = results({"demo": 0.65, "random": 0.62})
    (tmp_path / "results.json").write_text(json.dumps(written.to_dict()))
    assert read_results(tmp_path / "results.json") == written


def test_read_results_says_what_it_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="No results file at .*missing.json.*--output-dir"):
        read_results(tmp_path / "missing.json")
    (tmp_path / "notes.json").write_text('{"hello": 1}')
    (tmp_path / "broken.json").write_text("{not json")
    for name in ("notes.json", "broken.json"):
        with pytest.raises(ValueError, match=f"{name} is not a results.json"):
            read_results(tmp_path / name)


def test_with_reference_appends_the_reference_rows_of_the_same_modes():
    run = results({"demo": 0.65, "random": 0.62})
    reference = results({"demo-long": 0.70, "moco": 0.69}, modes=("linear", "full"))
    table = markdown_table(with_reference(run, reference, "reference"))
    lines = table.splitlines()[2:]
    assert [line.split(" | ")[0] for line in lines] == [
        "| demo", "| random", "| demo-long (reference)", "| moco (reference)"]  # fmt: skip
    assert "| demo-long (reference) | linear | 1 % | 3 | 0.700 (0.690–0.710) |" in table
    assert run.summary == results({"demo": 0.65, "random": 0.62}).summary  # run left as it was


def test_with_reference_refuses_another_dataset():
    with pytest.raises(ValueError, match="measured on other data .*this run on toy data"):
        with_reference(results({"demo": 0.6}), results({"x": 0.7}, "other data"), "ref")


def test_finetune_reads_the_comparison_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        finetune_main(["--models", "random", "--output-dir", str(tmp_path / "out"),
                       "--compare", str(tmp_path / "missing.json")])  # fmt: skip
    assert exit_info.value.code == 2
    assert "--compare: No results file at" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
