"""From a recipe to the objects of a run: the encoder's config, the MoCo-IM model, and the card
of the model it will produce."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..configuration_mocoim import MocoImConfig
from ..model_card import render_model_card
from ..modeling_mocoim import MocoImModel
from ..results import Estimate
from ..sources import check_model_source
from .batchnorm import split_batchnorm
from .moco import IntermediateLoss, MocoIm
from .recipe import PretrainRecipe
from .small_map_convs import use_small_map_convs


def encoder_config(recipe: PretrainRecipe, data: dict[str, Any] | None = None) -> MocoImConfig:
    """The encoder's config, carrying the recipe (and what it read, `data`) as provenance for
    model cards."""
    uses_intermediate = recipe.intermediate_loss != "none"
    dataset = recipe.dataset if recipe.data_path is None else f"{recipe.dataset}:{recipe.data_path}"
    return MocoImConfig(
        backbone=recipe.backbone,
        num_channels=recipe.num_channels,
        stem=recipe.stem,
        zero_init_residual=recipe.zero_init_residual,
        image_size=recipe.image_size,
        pretraining_recipe=recipe.name,
        pretraining_dataset=dataset,
        intermediate_loss=recipe.intermediate_loss,
        intermediate_layers=recipe.intermediate_layers if uses_intermediate else [],
        intermediate_weights=recipe.intermediate_weights if uses_intermediate else [],
        pretraining_hparams=recipe.to_dict(),
        pretraining_data=data,
    )


def initial_encoder(recipe: PretrainRecipe, config: MocoImConfig, load: bool = True) -> MocoImModel:
    """A freshly initialised encoder, or (`recipe.init_from`, when `load`) one holding the weights
    of that MoCo-IM folder or Hub id; a source of another backbone, stem or channel count is
    refused naming both sides. The config stays the recipe's (the run's provenance)."""
    encoder = MocoImModel(config)
    if recipe.init_from is None or not load:
        return encoder
    check_model_source(recipe.init_from)
    source = MocoImModel.from_pretrained(recipe.init_from)
    mismatched = [
        f"{name} {getattr(source.config, name)!r} there, {getattr(config, name)!r} in the recipe"
        for name in ("backbone", "stem", "num_channels")
        if getattr(source.config, name) != getattr(config, name)
    ]
    if mismatched:
        raise ValueError(
            f"Cannot start from {recipe.init_from}: {'; '.join(mismatched)}. Match the recipe to "
            "it (--backbone, --stem, --num-channels) or start from another model."
        )
    encoder.load_state_dict(source.state_dict())
    return encoder


def uses_shuffle_bn(recipe: PretrainRecipe, world_size: int = 1) -> bool:
    """The recipe's `shuffle_bn`, by default on whenever BatchNorm statistics are per process
    (several processes without SyncBN) or per group (`bn_splits` > 1). Refuses to turn it off
    where that lets queries and keys share statistics."""
    per_process = world_size > 1 and not recipe.sync_bn
    if recipe.shuffle_bn is None:
        return per_process or recipe.bn_splits > 1
    if per_process and not recipe.shuffle_bn:
        raise ValueError(
            f"--no-shuffle-bn in a {world_size}-process run without --sync-bn: each process's "
            "BatchNorm would normalise a batch of queries and the batch of their own positive "
            "keys with statistics of the same few samples, a shortcut the contrastive task learns "
            "to use instead of features (MoCo, He et al. 2020, section 3.3). Keep shuffle-BN (the "
            "default under torchrun) or pass --sync-bn (CUDA) for statistics over all processes."
        )
    return recipe.shuffle_bn


def build_moco(
    recipe: PretrainRecipe,
    config: MocoImConfig,
    world_size: int = 1,
    device: str | torch.device = "cpu",
    load_init: bool = True,
) -> MocoIm:
    """A MoCo-IM model for `recipe` run on `world_size` processes on `device`, both encoders
    starting from `recipe.init_from` when `load_init` (BatchNorm split and shuffled as it asks;
    the encoders compiled if it asks)."""
    intermediate = None
    if recipe.intermediate_loss != "none":
        layers = recipe.intermediate_layers
        intermediate = IntermediateLoss(
            recipe.intermediate_loss,
            dict(zip(layers, recipe.intermediate_weights, strict=True)),
            config.hidden_sizes,
            mse_form=recipe.mse_form,
            mse_grids=dict(zip(layers, recipe.mse_grids, strict=True)),
            mse_normalize=recipe.mse_normalize,
            barlow_weighting=recipe.barlow_weighting,
            barlow_dim=recipe.barlow_dim,
        )
    moco = MocoIm(
        initial_encoder(recipe, config, load_init),
        dim=recipe.dim,
        queue_size=recipe.queue_size,
        momentum=recipe.momentum,
        temperature=recipe.temperature,
        mlp=recipe.mlp,
        intermediate=intermediate,
        shuffle_bn=uses_shuffle_bn(recipe, world_size),
    )
    split_batchnorm(moco, recipe.bn_splits)
    if torch.device(device).type == "cpu" and recipe.precision == "fp32":
        use_small_map_convs(moco)  # measured ~1.8x faster steps at 32 px; same weights and results
    if recipe.compile:
        moco.compile_encoders()
    return moco


def trainable_parameters(moco: MocoIm) -> list[torch.nn.Parameter]:
    """Query encoder, its head and the intermediate-loss projectors (the key side is an EMA)."""
    extra = list(moco.intermediate.parameters()) if moco.intermediate is not None else []
    return moco.query_parameters() + extra


def planned_model_card(
    recipe_name: str,
    repo_id: str,
    evaluations: Sequence[Estimate] = (),
    measured_in: str = "",
    baselines: Sequence[Estimate] = (),
) -> str:
    """The card of the model a recipe will produce, before it is trained (as `model_cards/`
    holds for the models we intend to publish), with the results of the recipe measured
    `measured_in` if there are any, and those of `baselines` beside them."""
    recipe = PretrainRecipe.load(recipe_name)
    data = "" if recipe.dataset == "default" else " --data-path DATA"
    status = (
        "not trained yet. This card is rendered from the recipe; the published model's card is "
        f"rendered from the run itself. Produce it with `mocoim-pretrain --recipe "
        f"{recipe_name}{data} --output-dir runs/{recipe_name} --push-to-hub "
        f"--hub-model-id {repo_id}`."
    )
    if evaluations:
        status += f" The evaluation below was measured {measured_in}."
    card = render_model_card(
        encoder_config(recipe), repo_id, evaluations=evaluations, baselines=baselines, status=status
    )
    return str(card)
