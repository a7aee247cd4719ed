"""From a recipe to the objects of a run: the encoder's config and the MoCo-IM model."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..configuration_mocoim import MocoImConfig
from ..modeling_mocoim import MocoImModel
from .batchnorm import split_batchnorm
from .moco import IntermediateLoss, MocoIm
from .recipe import PretrainRecipe


def encoder_config(recipe: PretrainRecipe) -> MocoImConfig:
    """The encoder's config, carrying the recipe as provenance for model cards."""
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
    )


def build_moco(
    recipe: PretrainRecipe,
    config: MocoImConfig,
    gather: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> MocoIm:
    """A freshly initialised MoCo-IM model for `recipe` (BatchNorm split as it asks)."""
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
        MocoImModel(config),
        dim=recipe.dim,
        queue_size=recipe.queue_size,
        momentum=recipe.momentum,
        temperature=recipe.temperature,
        mlp=recipe.mlp,
        intermediate=intermediate,
        gather=gather,
        shuffle_bn=recipe.shuffle_bn,
    )
    return split_batchnorm(moco, recipe.bn_splits)


def trainable_parameters(moco: MocoIm) -> list[torch.nn.Parameter]:
    """Query encoder, its head and the intermediate-loss projectors (the key side is an EMA)."""
    extra = list(moco.intermediate.parameters()) if moco.intermediate is not None else []
    return moco.query_parameters() + extra
