"""MoCo-IM encoders as transformers models: a torchvision ResNet with per-stage outputs."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.backbone_utils import BackboneMixin
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import (
    BackboneOutput,
    BaseModelOutputWithPoolingAndNoAttention,
    ImageClassifierOutputWithNoAttention,
)
from transformers.utils import SAFE_WEIGHTS_INDEX_NAME, cached_file

from .configuration_mocoim import BACKBONES, STAGE_NAMES, MocoImConfig
from .sources import check_model_source

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pth.tar", ".tar", ".ckpt", ".pkl")
CONVERT_HINT = (
    "MoCo-IM loads weights from safetensors only, so that loading never runs pickled code. "
    "Convert a PyTorch checkpoint first: mocoim-convert CHECKPOINT OUTPUT_DIR"
)
LayerSpec = str | int


class CheckpointedStage(GradientCheckpointingLayer, nn.Sequential):
    """A ResNet stage (torchvision's `layerN`: a Sequential of residual blocks) as a transformers
    `GradientCheckpointingLayer`: `activation_checkpointing_enable(every_n_layers=...)` finds it
    and recomputes it in the backward pass. As with timm's `checkpoint_seq`, recomputing a stage
    updates its BatchNorm running statistics a second time, with the same batch statistics."""


def build_resnet(config: MocoImConfig) -> ResNet:
    """The torchvision ResNet named by `config`, with its first conv fitted to `num_channels` and
    `stem`; its `fc` is dropped (the encoder ends at global average pooling)."""
    block_type, depths = BACKBONES[config.backbone]
    block = BasicBlock if block_type == "basic" else Bottleneck
    resnet = ResNet(block, list(depths), zero_init_residual=config.zero_init_residual)
    if config.stem == "small":
        resnet.conv1 = nn.Conv2d(config.num_channels, 64, 3, stride=1, padding=1, bias=False)
        resnet.maxpool = nn.Identity()
    elif config.num_channels != 3:
        resnet.conv1 = nn.Conv2d(config.num_channels, 64, 7, stride=2, padding=3, bias=False)
    del resnet.fc
    for stage in (resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4):
        stage.__class__ = CheckpointedStage  # same modules and weight names, checkpointable
    if config.zero_init_residual:  # read by _init_weights, which sees one module at a time
        for block in resnet.modules():
            if isinstance(block, (BasicBlock, Bottleneck)):
                last_bn = block.bn3 if isinstance(block, Bottleneck) else block.bn2
                last_bn.zero_init = True
    return resnet


def resolve_layers(layers: LayerSpec | Sequence[LayerSpec] | None) -> list[int]:
    """Stage indices (0 = stem, 1..4 = layer1..layer4) from names or (negative) indices.

    `None` means all stages; results are sorted and without repeats.
    """
    if layers is None:
        return list(range(len(STAGE_NAMES)))
    if isinstance(layers, (str, int)):
        layers = [layers]
    count = len(STAGE_NAMES)
    indices = set()
    for layer in layers:
        if isinstance(layer, str) and layer in STAGE_NAMES:
            indices.add(STAGE_NAMES.index(layer))
        elif isinstance(layer, int) and not isinstance(layer, bool) and -count <= layer < count:
            indices.add(layer % count)
        else:
            raise ValueError(
                f"Unknown layer {layer!r}; expected a name in {', '.join(STAGE_NAMES)} or an "
                f"index in {-count}..{count - 1}."
            )
    if not indices:
        raise ValueError(f"Expected at least one layer out of {', '.join(STAGE_NAMES)}.")
    return sorted(indices)


class MocoImPreTrainedModel(PreTrainedModel):
    """The base of the MoCo-IM models: their config class, weight initialisation, and what
    transformers needs to save, load and shard them."""

    config: MocoImConfig
    config_class = MocoImConfig
    base_model_prefix = "mocoim"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    _no_split_modules = ["BasicBlock", "Bottleneck"]
    supports_gradient_checkpointing = True  # per stage: recompute layer1..layer4 in backward

    def _init_weights(self, module: nn.Module) -> None:
        """torchvision's ResNet initialisation, `zero_init_residual` included (transformers'
        default would draw convs from N(0, 0.02))."""
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.Linear):  # torch's own Linear.reset_parameters
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                bound = 1 / math.sqrt(module.weight.shape[1])
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.BatchNorm2d):
            init.constant_(module.weight, 0.0 if getattr(module, "zero_init", False) else 1.0)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)

    def __prepare_scriptable__(self):
        """`torch.jit.script` calls this first: refuse in one line instead of TorchScript's
        failure deep in transformers' Python-typed config and outputs."""
        raise TypeError(
            f"{type(self).__name__} cannot be compiled by torch.jit.script; trace it instead: "
            "`mocoim-export MODEL OUT --format torchscript` (or onnx, exported-program), or "
            "mocoim_hub.export.export_encoder."
        )

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """`PreTrainedModel.from_pretrained`, restricted to safetensors weights."""
        if kwargs.get("use_safetensors") is False:
            raise ValueError(f"use_safetensors=False is not supported. {CONVERT_HINT}")
        kwargs["use_safetensors"] = True
        check_model_source(pretrained_model_name_or_path)
        _reject_pickle_only_folder(pretrained_model_name_or_path, kwargs.get("subfolder", ""))
        _check_shard_index(pretrained_model_name_or_path, kwargs)
        try:
            return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        except OSError as err:
            if "safetensors" in str(err) and CONVERT_HINT not in str(err):
                raise OSError(f"{err}\n{CONVERT_HINT}") from err
            raise


def _reject_pickle_only_folder(path: str | os.PathLike | None, subfolder: str) -> None:
    if path is None:  # weights given as `state_dict=`
        return
    folder = Path(path) / subfolder
    if not folder.is_dir() or any(folder.glob("*.safetensors")):
        return
    pickles = sorted(p.name for p in folder.iterdir() if p.name.endswith(PICKLE_SUFFIXES))
    if pickles:
        raise OSError(
            f"{folder} holds no safetensors weights, only pickle checkpoint(s): "
            f"{', '.join(pickles)}. {CONVERT_HINT}"
        )


def _check_shard_index(path: str | os.PathLike | None, kwargs: dict) -> None:
    """transformers loads whatever files a `model.safetensors.index.json` names, `.bin` pickles
    and `../` paths included; only `.safetensors` files inside the model folder are allowed."""
    if path is None:
        return
    hub_options = ("subfolder", "revision", "cache_dir", "token", "local_files_only")
    index_file = cached_file(
        path,
        SAFE_WEIGHTS_INDEX_NAME,
        **{name: kwargs[name] for name in hub_options if name in kwargs},
        _raise_exceptions_for_missing_entries=False,
        _raise_exceptions_for_connection_errors=False,
    )
    if index_file is None:
        return
    try:
        shards = set(json.loads(Path(index_file).read_text())["weight_map"].values())
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(
            f"{SAFE_WEIGHTS_INDEX_NAME} of {os.fspath(path)} is not a shard index (a JSON object "
            f'with a "weight_map" of weight name -> file): {type(err).__name__}: {err}.'
        ) from err
    refused = sorted(
        str(shard) for shard in shards
        if not isinstance(shard, str) or Path(shard).name != shard or not shard.endswith(".safetensors")
    )  # fmt: skip
    if refused:
        raise ValueError(
            f"{SAFE_WEIGHTS_INDEX_NAME} of {os.fspath(path)} maps weights to {', '.join(refused)}; "
            "only .safetensors files inside the model folder are loaded (no pickles, no paths). "
            f"{CONVERT_HINT}"
        )


class _StagedEncoder(MocoImPreTrainedModel):
    """The ResNet and how its stages run; `MocoImModel` and `MocoImBackbone` share it, and with it
    their weight names (`encoder.*`), so either loads the other's checkpoint."""

    def __init__(self, config: MocoImConfig):
        super().__init__(config)
        self.encoder = build_resnet(config)

    def _run_stages(self, pixel_values: torch.Tensor, last_stage: int = 4) -> list[torch.Tensor]:
        """Feature maps of the stem and of layer1..layer`last_stage` (nothing deeper is computed)."""
        if pixel_values.ndim != 4 or pixel_values.shape[1] != self.config.num_channels:
            raise ValueError(
                f"Expected pixel_values of shape (batch, {self.config.num_channels}, height, width) "
                f"but got {tuple(pixel_values.shape)}. Use MocoImImageProcessor to prepare images."
            )
        return run_stages(self.encoder, pixel_values, last_stage)


def run_stages(
    net: nn.Module, pixel_values: torch.Tensor, last_stage: int = 4
) -> list[torch.Tensor]:
    """The maps of `net`'s stem and of layer1..layer`last_stage` (a plain function of the ResNet,
    which `mocoim_hub.export` traces without the transformers model around it)."""
    hidden = net.maxpool(net.relu(net.bn1(net.conv1(pixel_values))))
    maps = [hidden]
    for stage in (net.layer1, net.layer2, net.layer3, net.layer4)[:last_stage]:
        hidden = stage(hidden)  # a CheckpointedStage: recomputed in backward when enabled
        maps.append(hidden)
    return maps


class MocoImModel(_StagedEncoder):
    """The encoder. `pooler_output` is the embedding; `hidden_states` are the stem and layer1..4."""

    def __init__(self, config: MocoImConfig):
        super().__init__(config)
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPoolingAndNoAttention | tuple:
        r"""
        Returns `last_hidden_state` (layer4 map, `(batch, hidden_size, h, w)`), `pooler_output`
        (its global average, `(batch, hidden_size)`) and, with `output_hidden_states`, the five maps
        of `hidden_states` (stem, layer1..layer4).
        """
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        maps = self._run_stages(pixel_values)
        pooled = torch.flatten(nn.functional.adaptive_avg_pool2d(maps[-1], 1), 1)
        hidden_states = tuple(maps) if output_hidden_states else None
        if not return_dict:
            return tuple(v for v in (maps[-1], pooled, hidden_states) if v is not None)
        return BaseModelOutputWithPoolingAndNoAttention(
            last_hidden_state=maps[-1], pooler_output=pooled, hidden_states=hidden_states
        )

    def layer_features(
        self,
        pixel_values: torch.Tensor,
        layers: LayerSpec | Sequence[LayerSpec] | None = None,
        pooled: bool = True,
    ) -> dict[str, torch.Tensor]:
        """Features of chosen stages, keyed by stage name, shallowest first.

        Args:
            pixel_values: `(batch, num_channels, height, width)` from `MocoImImageProcessor`.
            layers: names (`"stem"`, `"layer1"`..`"layer4"`) or indices (0..4, negative from the
                end); `None` for all five.
            pooled: global-average-pool each map to `(batch, channels)`; else keep
                `(batch, channels, h, w)`.
        """
        indices = resolve_layers(layers)
        maps = self._run_stages(pixel_values, last_stage=max(indices))
        features = {}
        for index in indices:
            feature = maps[index]
            if pooled:
                feature = torch.flatten(nn.functional.adaptive_avg_pool2d(feature, 1), 1)
            features[STAGE_NAMES[index]] = feature
        return features


class MocoImBackbone(BackboneMixin, _StagedEncoder):
    """The encoder as a transformers backbone (`AutoBackbone`): the maps of `config.out_features`
    (names in `stem`, `layer1`..`layer4`) for dense heads such as UperNet, Mask2Former or DPT.
    Loads `MocoImModel` checkpoints as they are.

    ```python
    backbone = MocoImBackbone.from_pretrained("runs/demo/model", out_features=["layer2", "layer4"])
    backbone(pixel_values).feature_maps  # (layer2 map, layer4 map)
    ```
    """

    has_attentions = False

    def __init__(self, config: MocoImConfig):
        super().__init__(config)
        self.num_features = config.hidden_sizes
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BackboneOutput | tuple:
        r"""
        Returns `feature_maps`, one `(batch, channels, h, w)` map per entry of `out_features`, and
        with `output_hidden_states` all five stage maps.
        """
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        indices = [index % len(STAGE_NAMES) for index in self.out_indices]  # [-1] is layer4
        maps = self._run_stages(pixel_values, 4 if output_hidden_states else max(indices))
        feature_maps = tuple(maps[index] for index in indices)
        hidden_states = tuple(maps) if output_hidden_states else None
        if not return_dict:
            return tuple(v for v in (feature_maps, hidden_states) if v is not None)
        return BackboneOutput(feature_maps=feature_maps, hidden_states=hidden_states)


class MocoImForImageClassification(MocoImPreTrainedModel):
    """A MoCo-IM encoder with a linear head on the pooled embedding. `config.problem_type` picks
    the loss: `single_label_classification` (cross-entropy), `multi_label_classification`
    (BCE with logits, e.g. the 14 NIH findings) or `regression` (MSE); inferred when unset."""

    def __init__(self, config: MocoImConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.mocoim = MocoImModel(config)
        self.classifier = (
            nn.Linear(config.hidden_size, config.num_labels)
            if config.num_labels > 0
            else nn.Identity()
        )
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> ImageClassifierOutputWithNoAttention | tuple:
        r"""
        labels: class indices `(batch,)` for single-label, multi-hot floats `(batch, num_labels)`
            for multi-label, targets `(batch,)` or `(batch, num_labels)` for regression.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        outputs = self.mocoim(
            pixel_values, output_hidden_states=output_hidden_states, return_dict=True
        )
        logits = self.classifier(outputs.pooler_output)
        loss = self.loss_function(labels, logits, self.config) if labels is not None else None
        if not return_dict:
            output = tuple(v for v in (logits, outputs.hidden_states) if v is not None)
            return (loss, *output) if loss is not None else output
        return ImageClassifierOutputWithNoAttention(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states
        )


__all__ = [
    "MocoImBackbone",
    "MocoImPreTrainedModel",
    "MocoImModel",
    "MocoImForImageClassification",
    "build_resnet",
    "resolve_layers",
]
