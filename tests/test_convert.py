import subprocess
import sys

import pytest
import torch
import torchvision
from peak_memory import measure

from mocoim_hub import MocoImModel
from mocoim_hub.commands.convert import main
from mocoim_hub.convert import convert_checkpoint


def reference_resnet(name: str = "resnet18") -> torch.nn.Module:
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)()
    with torch.no_grad():  # non-trivial BN statistics, so a dropped buffer would show
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def pooled(model: torch.nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        if isinstance(model, MocoImModel):
            return model.eval()(pixels).pooler_output
        head, model.fc = model.fc, torch.nn.Identity()
        features = model(pixels)
        model.fc = head
        return features


def moco_layout(resnet: torch.nn.Module) -> dict:
    """facebookresearch/moco main_moco.py: DDP-wrapped query and key encoders, v2 MLP head."""
    state = {}
    for prefix in ("module.encoder_q.", "module.encoder_k."):
        for key, value in resnet.state_dict().items():
            if not key.startswith("fc."):
                state[prefix + key] = value
        state[prefix + "fc.0.weight"] = torch.randn(512, 512)
        state[prefix + "fc.2.weight"] = torch.randn(128, 512)
    state["module.queue"] = torch.randn(128, 4096)
    return {"epoch": 200, "arch": "resnet18", "state_dict": state, "optimizer": {"state": {}}}


def lightning_layout(resnet: torch.nn.Module) -> dict:
    """The MoCo-IM authors' Lightning checkpoints: `encoder_q.`/`encoder_k.` under state_dict."""
    state = {f"encoder_q.{k}": v for k, v in resnet.state_dict().items()}
    state |= {f"encoder_k.{k}": v + 1 for k, v in resnet.state_dict().items()}
    return {
        "epoch": 3,
        "global_step": 100,
        "pytorch-lightning_version": "1.2.0",
        "state_dict": state,
    }


@pytest.mark.parametrize("layout", ["torchvision", "moco", "lightning"])
def test_converted_encoder_reproduces_the_source(layout, tmp_path):
    resnet = reference_resnet()
    checkpoint = {
        "torchvision": lambda: resnet.state_dict(),
        "moco": lambda: moco_layout(resnet),
        "lightning": lambda: lightning_layout(resnet),
    }[layout]()
    torch.save(checkpoint, tmp_path / "checkpoint.pth.tar")
    convert_checkpoint(tmp_path / "checkpoint.pth.tar", tmp_path / "out", image_size=64)
    model = MocoImModel.from_pretrained(tmp_path / "out")
    assert model.config.backbone == "resnet18" and model.config.num_channels == 3
    pixels = torch.randn(2, 3, 64, 64)
    assert torch.allclose(pooled(model, pixels), pooled(resnet, pixels), atol=1e-5)


def test_bottleneck_backbone_is_recognised(tmp_path):
    torch.save(reference_resnet("resnet50").state_dict(), tmp_path / "r50.pth")
    model = convert_checkpoint(tmp_path / "r50.pth", tmp_path / "out")
    assert model.config.backbone == "resnet50"


def test_rgb_weights_summed_for_gray_inputs(tmp_path):
    """A gray image through the summed filters equals it repeated over RGB through the originals."""
    resnet = reference_resnet()
    torch.save(resnet.state_dict(), tmp_path / "rgb.pth")
    convert_checkpoint(tmp_path / "rgb.pth", tmp_path / "gray", num_channels=1)
    gray_model = MocoImModel.from_pretrained(tmp_path / "gray")
    gray = torch.rand(2, 1, 64, 64)
    assert torch.allclose(
        pooled(gray_model, gray), pooled(resnet, gray.repeat(1, 3, 1, 1)), atol=1e-4
    )


def test_cli_writes_a_loadable_folder_and_fails_clearly(tmp_path, capsys):
    torch.save(reference_resnet().state_dict(), tmp_path / "tv.pth")
    main([str(tmp_path / "tv.pth"), str(tmp_path / "out"), "--num-channels", "1"])
    assert "resnet18 (1 channel(s)" in capsys.readouterr().out
    assert (tmp_path / "out" / "model.safetensors").exists()
    assert (tmp_path / "out" / "preprocessor_config.json").exists()

    torch.save({"state_dict": {"head.weight": torch.zeros(2)}}, tmp_path / "other.pth")
    result = subprocess.run(
        [sys.executable, "-m", "mocoim_hub.commands.convert", str(tmp_path / "other.pth"), str(tmp_path / "x")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 2
    assert "Found no ResNet weights" in result.stderr


class PickledObject:
    """Stands for arbitrary code a pickle could run on load."""


def test_checkpoints_with_pickled_objects_are_refused(tmp_path):
    checkpoint = {"state_dict": {"conv1.weight": torch.zeros(1)}, "obj": PickledObject()}
    torch.save(checkpoint, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match="weights_only=True"):
        convert_checkpoint(tmp_path / "evil.pth", tmp_path / "out")


def _save(state: dict, path):
    torch.save(state, path)
    return path


def test_wrong_shaped_tensor_is_named(tmp_path):
    state = reference_resnet().state_dict()
    state["bn1.weight"] = torch.ones(65)
    path = _save(state, tmp_path / "wrong.pth")
    with pytest.raises(
        ValueError, match=r"wrong shape \['bn1.weight \(65,\) \(expected \(64,\)\)'\]"
    ):
        convert_checkpoint(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "weight", [torch.tensor(1.0), torch.zeros(64, 2, 7, 7), torch.zeros(64, 3, 5)]
)
def test_first_conv_of_an_impossible_shape_is_named(tmp_path, weight):
    state = reference_resnet().state_dict()
    state["conv1.weight"] = weight
    with pytest.raises(ValueError, match=r"conv1.weight has shape"):
        convert_checkpoint(_save(state, tmp_path / "conv.pth"), tmp_path / "out")


def test_compressed_archive_is_refused_before_it_is_inflated(tmp_path):
    """A small deflated zip that torch.load would inflate whole: refused from its directory."""
    import zipfile

    plain = _save({"conv1.weight": torch.zeros(2**25)}, tmp_path / "plain.pth")  # 128 MiB
    packed = tmp_path / "packed.pth"
    with (
        zipfile.ZipFile(plain) as source,
        zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for info in source.infolist():
            with source.open(info) as reader, out.open(info.filename, "w") as writer:
                while chunk := reader.read(2**22):
                    writer.write(chunk)
    assert packed.stat().st_size < 2**20
    result = measure(
        f"convert_checkpoint({str(packed)!r}, {str(tmp_path / 'out')!r})",
        setup="from mocoim_hub.convert import convert_checkpoint",
    )
    assert result["outcome"].startswith("ValueError") and "compressed entries" in result["outcome"]
    assert result["growth_mb"] < 32, result
