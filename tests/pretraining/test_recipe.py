"""Recipes loaded from JSON: a recipe that extends another holds only what it changes."""

import json

import pytest

from mocoim_hub.pretraining.recipe import PretrainRecipe


def test_a_recipe_extending_another_changes_only_its_own_fields(tmp_path):
    path = tmp_path / "long.json"
    path.write_text(json.dumps({"extends": "demo", "epochs": 40, "seed": 0}))
    long, demo = PretrainRecipe.load(path), PretrainRecipe.load("demo")
    assert (long.name, long.epochs, long.seed) == ("long", 40, 0)
    assert {**long.to_dict(), "name": "demo", "epochs": demo.epochs, "seed": demo.seed} == (
        demo.to_dict()
    )

    longer = tmp_path / "longer.json"  # a chain: longer -> long -> demo
    longer.write_text(json.dumps({"extends": str(path), "epochs": 80}))
    assert (PretrainRecipe.load(longer).epochs, PretrainRecipe.load(longer).seed) == (80, 0)


def test_a_recipe_that_extends_itself_is_an_error(tmp_path):
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    first.write_text(json.dumps({"extends": str(second)}))
    second.write_text(json.dumps({"extends": str(first)}))
    with pytest.raises(
        ValueError, match=r"extends itself: .*first\.json -> .*second\.json -> .*first\.json"
    ):
        PretrainRecipe.load(first)
