"""Import ResNet weights from PyTorch checkpoints into a MoCo-IM model folder (safetensors).

Reads, with `torch.load(weights_only=True)` so no pickled code runs:

- a torchvision ResNet state dict (`conv1.weight`, ..., `fc.*`; a `module.` prefix from DDP is fine);
- a facebookresearch/moco checkpoint (`{"state_dict": {"module.encoder_q.conv1.weight": ...}}`);
- a PyTorch-Lightning checkpoint as the MoCo-IM authors saved them (`encoder_q.` keys under
  `state_dict`).

Projection heads (`fc`, or the v2 MLP `fc.0`/`fc.2`) and the key encoder are dropped. The command
is `mocoim-convert SRC OUT [--num-channels 1] [--image-size 224]` (`mocoim_hub.commands.convert`).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from .configuration_mocoim import BACKBONES, MocoImConfig
from .image_processing_mocoim import MocoImImageProcessor
from .manifest import replace_folder
from .modeling_mocoim import MocoImModel

QUERY_ENCODER = "encoder_q."
ENCODER_PREFIXES = ("conv1.", "bn1.", "layer1.", "layer2.", "layer3.", "layer4.")


def load_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, unwrapped from a `state_dict` entry when there is one."""
    _refuse_compressed_archive(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(
            f"Could not read {os.fspath(path)!r} as a PyTorch checkpoint with weights_only=True "
            f"({type(err).__name__}: {err}). Only tensors and plain containers are accepted."
        ) from err
    if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get("state_dict"), Mapping):
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, Mapping) or not checkpoint:
        raise ValueError(f"Expected a state dict (name -> tensor) in {os.fspath(path)!r}.")
    return {k: v for k, v in checkpoint.items() if isinstance(v, torch.Tensor)}


def _refuse_compressed_archive(path: str | os.PathLike) -> None:
    """`torch.save` stores its zip archive's entries uncompressed; torch.load would inflate a
    compressed entry whole, so a small hostile file could take gigabytes before failing."""
    if not zipfile.is_zipfile(path):
        return
    with zipfile.ZipFile(path) as archive:
        packed = [i.filename for i in archive.infolist() if i.compress_type != zipfile.ZIP_STORED]
    if packed:
        raise ValueError(
            f"{os.fspath(path)!r} is a zip archive with compressed entries ({', '.join(packed[:3])}); "
            "torch.save never writes those. Re-save the weights with torch.save."
        )


def extract_encoder(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision-named ResNet weights, without the head: MoCo/Lightning query encoders are
    preferred; otherwise a (possibly `module.`-prefixed) plain ResNet."""
    if any(QUERY_ENCODER in key for key in state_dict):
        names = {k: k.split(QUERY_ENCODER, 1)[1] for k in state_dict if QUERY_ENCODER in k}
    else:
        names = {k: k.removeprefix("module.") for k in state_dict}
    encoder = {
        new: state_dict[old] for old, new in names.items() if new.startswith(ENCODER_PREFIXES)
    }
    if "conv1.weight" not in encoder:
        sample = ", ".join(list(state_dict)[:5])
        raise ValueError(
            "Found no ResNet weights (expected keys like 'conv1.weight', 'module.encoder_q.conv1.weight' "
            f"or 'encoder_q.conv1.weight'); the checkpoint starts with: {sample}."
        )
    return encoder


def infer_backbone(encoder: Mapping[str, torch.Tensor]) -> str:
    """The torchvision ResNet whose block layout matches these weights."""
    block_type = "bottleneck" if "layer1.0.conv3.weight" in encoder else "basic"
    depths = tuple(
        len({k.split(".")[1] for k in encoder if k.startswith(f"layer{stage}.")})
        for stage in (1, 2, 3, 4)
    )
    for name, layout in BACKBONES.items():
        if layout == (block_type, depths):
            return name
    raise ValueError(f"No supported ResNet has {block_type} blocks in stages of depth {depths}.")


def fit_first_conv(weight: torch.Tensor, num_channels: int) -> torch.Tensor:
    """Adapt first-conv filters to `num_channels` inputs: RGB -> gray sums the RGB filters (a gray
    image repeated over RGB gives the same response), gray -> RGB spreads them over three."""
    have = weight.shape[1]
    if have == num_channels:
        return weight
    if have == 3 and num_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    if have == 1 and num_channels == 3:
        return weight.repeat(1, 3, 1, 1) / 3
    raise ValueError(f"Cannot adapt a first conv with {have} input channels to {num_channels}.")


def _first_conv(weight: torch.Tensor) -> torch.Tensor:
    """conv1.weight as (64, 1 or 3, k, k) with k 7 (ImageNet stem) or 3 (small stem)."""
    shape = tuple(weight.shape)
    if len(shape) != 4 or shape[1] not in (1, 3) or shape[2:] not in ((7, 7), (3, 3)):
        raise ValueError(
            f"conv1.weight has shape {shape}; a ResNet's first conv is (64, 1 or 3, 7, 7), or "
            "(64, 1 or 3, 3, 3) for the small stem."
        )
    return weight


def _check_against(
    expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor], backbone: str
) -> None:
    """The checkpoint has exactly the encoder's tensors, each of the encoder's shape."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    wrong = [
        f"{k} {tuple(given[k].shape)} (expected {tuple(v.shape)})"
        for k, v in expected.items()
        if k in given and given[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        raise ValueError(
            f"Checkpoint does not match {backbone}: missing {missing[:5]}, unexpected "
            f"{unexpected[:5]}, wrong shape {wrong[:5]}."
        )


def convert_checkpoint(
    source: str | os.PathLike,
    output_dir: str | os.PathLike,
    num_channels: int | None = None,
    image_size: int = 224,
    force: bool = False,
    **config_kwargs,
) -> MocoImModel:
    """Write `source`'s encoder to `output_dir` as a MoCo-IM model folder with its image processor.
    A folder holding files this package did not write is refused unless `force`."""
    encoder = extract_encoder(load_checkpoint(source))
    conv1 = _first_conv(encoder["conv1.weight"])
    num_channels = num_channels or conv1.shape[1]
    encoder["conv1.weight"] = fit_first_conv(conv1, num_channels)
    config = MocoImConfig(
        backbone=infer_backbone(encoder),
        num_channels=num_channels,
        stem="small" if conv1.shape[-1] == 3 else "imagenet",
        image_size=image_size,
        **config_kwargs,
    )
    model = MocoImModel(config)
    _check_against(model.encoder.state_dict(), encoder, config.backbone)
    model.encoder.load_state_dict(encoder)

    def write(folder: Path) -> None:
        model.save_pretrained(folder)
        MocoImImageProcessor.from_model_config(config).save_pretrained(folder)

    # a model saved there before goes whole: no card or results of it beside the new weights
    replace_folder(output_dir, write, "the converted model", force)
    return model
