"""Model cards: rendered from the config actually used, parseable, honest about results."""

from dataclasses import replace
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from mocoim_hub import MocoImConfig, MocoImForImageClassification, MocoImModel
from mocoim_hub.commands.hub import main as hub_main
from mocoim_hub.finetune.report import measured_rows
from mocoim_hub.model_card import (
    is_unedited,
    load_evaluations,
    render_model_card,
    save_evaluations,
    write_model_card,
)
from mocoim_hub.pretraining.build import encoder_config, planned_model_card
from mocoim_hub.pretraining.recipe import PretrainRecipe
from mocoim_hub.results import Estimate

ROOT = Path(__file__).parents[1]
MODEL_CARDS = ROOT / "model_cards"
DEMO_RESULTS = ROOT / "results" / "demo-long" / "results.json"  # measured on a demo-long run
PUBLISHED = {  # card name: its recipe, and the results measured on a run of it
    "mocoim-nih": ("paper-nih", None),
    "mocoim-bch": ("paper-bch", None),
    "mocoim-dr": ("paper-dr", None),
    "mocoim-demo": ("demo-long", DEMO_RESULTS),
}
FASHION = "Fashion-MNIST subset"
RESULTS = [
    Estimate("demo", "linear", 0.01, "accuracy", 0.66, 0.64, 0.68, 3, dataset=FASHION),
    Estimate("demo", "linear", 1.0, "accuracy", 0.81, 0.80, 0.83, 3, dataset=FASHION),
    Estimate("demo", "full", 0.01, "macro_f1", 0.61, dataset=FASHION),
]


def card_from_recipe(tmp_path, evaluations=(), baselines=(), **overrides) -> ModelCard:
    config = encoder_config(
        PretrainRecipe.from_dict({**PretrainRecipe.load("demo").to_dict(), **overrides})
    )
    path = tmp_path / "README.md"
    card = render_model_card(
        config, "org/mocoim-demo", evaluations=evaluations, baselines=baselines
    )
    path.write_text(str(card))
    return ModelCard.load(path)


def test_card_parses_and_holds_the_recipe_values_used(tmp_path):
    card = card_from_recipe(tmp_path, lr=0.0123, intermediate_loss="mse", batch_size=64,
                            queue_size=128)  # fmt: skip
    assert card.data.library_name == "transformers"
    assert card.data.pipeline_tag == "image-feature-extraction"
    assert card.data.license == "apache-2.0" and card.data.datasets == [
        "zalando-datasets/fashion_mnist"
    ]
    assert "intermediate-loss-mse" in card.data.tags
    assert "| `lr` | `0.0123` |" in card.text and "| `batch_size` | `64` |" in card.text
    assert "intermediate-layer MSE loss" in card.text
    for section in ("## How to use", "trust_remote_code=True", "## Intended use", "Out of scope",
                    "## Training data", "## Limitations and biases", "arXiv:2110.14805", "@inproceedings"):  # fmt: skip
        assert section in card.text


def test_plain_moco_card_does_not_claim_an_intermediate_loss(tmp_path):
    card = card_from_recipe(tmp_path, intermediate_loss="none")
    assert "no intermediate-layer loss" in card.text and "intermediate-layer MSE" not in card.text
    assert not any(tag.startswith("intermediate-loss") for tag in card.data.tags)


def test_eval_table_and_model_index_only_with_results(tmp_path):
    without = card_from_recipe(tmp_path)
    assert without.data.eval_results is None and "model-index" not in without.content
    assert "No evaluation results" in without.text

    card = card_from_recipe(tmp_path, evaluations=RESULTS)
    assert card.data.model_name == "mocoim-demo"
    assert [(r.metric_type, r.metric_value) for r in card.data.eval_results] == [
        ("accuracy", 0.66), ("accuracy", 0.81), ("macro_f1", 0.61)]  # fmt: skip
    assert "| labels | encoder | seeds | linear accuracy | full macro_f1 |" in card.text
    assert "| 1 % | this model | 3 | 0.660 (0.640–0.680) | 0.610 |" in card.text
    assert "| 100 % | this model | 3 | 0.810 (0.800–0.830) | – |" in card.text
    assert "random-init encoder of the same architecture (" not in card.text  # none measured


def test_baselines_sit_beside_the_model_and_the_summary_states_the_gain(tmp_path):
    random_init = [replace(e, model="random", value=e.value - 0.05) for e in RESULTS[:2]]
    moco = [replace(RESULTS[0], model="moco", value=0.63)]
    card = card_from_recipe(tmp_path, evaluations=RESULTS, baselines=random_init + moco)
    assert "| 1 % | random init, same architecture | 3 | 0.610 (0.640–0.680) | – |" in card.text
    assert "| 1 % | plain MoCo, same budget | 3 | 0.630 (0.640–0.680) | – |" in card.text
    assert "| 100 % | random init, same architecture | 3 | 0.760" in card.text
    assert (
        "With 1 % of the training labels, a linear probe on this model scores 0.660 test accuracy "
        "against 0.610 for a random-init encoder of the same architecture (+5.0 points)."
    ) in card.text
    assert [r.metric_value for r in card.data.eval_results] == [0.66, 0.81, 0.61]  # own rows only


def test_clothing_model_has_no_medical_use_or_limitations(tmp_path):
    text = card_from_recipe(tmp_path).text
    use, limitations = text.split("## Intended use")[1].split("## Limitations and biases")
    assert "clothing" in use and "clothing" in limitations
    assert not any(word in use for word in ("Clinical", "diagnosis", "populations"))
    assert not any(word in limitations for word in ("patient", "scanner", "fairness"))
    medical = planned_model_card("paper-nih", "org/mocoim-nih").split("## Intended use")[1]
    assert "Clinical use of any kind" in medical and "clothing" not in medical


def test_classifier_card_is_tagged_for_image_classification():
    config = MocoImConfig(backbone="resnet18", image_size=32, num_labels=3)
    config.architectures = [MocoImForImageClassification.__name__]
    card = render_model_card(config, "org/clf", base_model="org/mocoim-demo")
    assert (
        card.data.pipeline_tag == "image-classification"
        and card.data.base_model == "org/mocoim-demo"
    )


def test_fingerprint_tells_generated_cards_from_edited_ones(tmp_path):
    text = str(card_from_recipe(tmp_path))
    assert is_unedited(text)
    assert not is_unedited(text.replace("## Intended use", "## Intended use\n\nOur notes."))
    assert not is_unedited("---\nlicense: mit\n---\n# A card someone wrote\n")


def test_write_model_card_uses_the_folder_contents(tmp_path, tiny_config):
    MocoImModel(tiny_config).save_pretrained(tmp_path)
    save_evaluations(RESULTS, tmp_path)
    assert load_evaluations(tmp_path) == RESULTS
    (tmp_path / "loss_curves.png").write_bytes(b"\x89PNG")
    card = ModelCard.load(write_model_card(tmp_path, "org/m"))
    assert "![Pretraining loss curves](loss_curves.png)" in card.text
    assert len(card.data.eval_results) == len(RESULTS)


@pytest.mark.parametrize("name", PUBLISHED)
def test_committed_cards_are_rendered_from_the_template(name):
    """model_cards/<name>.md is what the template renders for its recipe and the results measured
    on a run of it: regenerate with
    `mocoim-hub card --recipe RECIPE mocoim-hub/NAME [--results FILE] -o model_cards/NAME.md`."""
    recipe, results = PUBLISHED[name]
    committed = (MODEL_CARDS / f"{name}.md").read_text()
    assert committed == planned_model_card(
        recipe, f"mocoim-hub/{name}", *(measured_rows(results) if results else ())
    )
    assert is_unedited(committed)


def test_demo_card_shows_its_results_beside_random_init_and_plain_moco():
    card = ModelCard.load(MODEL_CARDS / "mocoim-demo.md")
    evaluation = card.text.split("## Evaluation")[1].split("## Limitations")[0]
    assert "random init, same architecture" in evaluation and "plain MoCo" in evaluation
    assert "for a random-init encoder of the same architecture (" in card.text  # the gain sentence
    assert len(card.data.eval_results) == len(measured_rows(DEMO_RESULTS)[0])  # own rows only


def test_card_command_refuses_results_without_a_recipe_or_a_file(tmp_path, capsys):
    with pytest.raises(SystemExit) as usage:
        hub_main(["card", "org/m", "--results", str(DEMO_RESULTS)])
    assert usage.value.code == 2 and "--results only with --recipe" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        hub_main(["card", "--recipe", "demo", "org/m", "--results", str(tmp_path / "missing.json")])
    assert usage.value.code == 2
    assert "card: No results file at" in capsys.readouterr().err
