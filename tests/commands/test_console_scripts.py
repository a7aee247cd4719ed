"""The console-script layer: recipes by name from any folder, one-line errors for missing extras
and unknown recipes."""

import sys
import types

import pytest

from mocoim_hub.commands.console import _console_script
from mocoim_hub.commands.pretrain import main as pretrain
from mocoim_hub.extras import MissingExtraError
from mocoim_hub.pretraining.recipe import PretrainRecipe, shipped_recipes


def test_shipped_recipes_load_by_name_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert {"demo", "paper-nih", "mocov2-nih"} <= set(shipped_recipes())
    assert all(PretrainRecipe.load(name).name == name for name in shipped_recipes())


def test_an_unknown_recipe_is_a_usage_error_listing_the_shipped_ones(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        pretrain(["--recipe", "nope", "--output-dir", str(tmp_path / "run")])
    assert exit_.value.code == 2
    assert "No recipe 'nope'; available: demo," in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_missing_extra_ends_the_command_with_its_one_line_message(monkeypatch):
    def main():
        raise MissingExtraError("Pretraining needs datasets: pip install 'mocoim_hub[train]'")

    monkeypatch.setitem(sys.modules, "fake_command", types.SimpleNamespace(main=main))
    with pytest.raises(SystemExit) as exit_:
        _console_script("fake_command")()
    assert exit_.value.code == "Pretraining needs datasets: pip install 'mocoim_hub[train]'"


def test_a_command_exits_with_what_main_returns(monkeypatch):
    monkeypatch.setitem(sys.modules, "fake_command", types.SimpleNamespace(main=lambda: 3))
    with pytest.raises(SystemExit) as exit_:
        _console_script("fake_command")()
    assert exit_.value.code == 3
