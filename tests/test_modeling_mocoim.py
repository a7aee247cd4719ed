import pytest
import torch
import torchvision
from transformers import Trainer, TrainingArguments
from transformers.modeling_layers import GradientCheckpointingLayer

from mocoim_hub import (
    MocoImBackbone,
    MocoImConfig,
    MocoImForImageClassification,
    MocoImModel,
    resolve_layers,
)


def torchvision_twin(model: MocoImModel) -> torch.nn.Module:
    """The bare torchvision ResNet holding the same weights, its fc made the identity."""
    config = model.config
    reference = getattr(torchvision.models, config.backbone)()
    reference.conv1 = model.encoder.conv1.__class__(
        config.num_channels, 64, model.encoder.conv1.kernel_size, model.encoder.conv1.stride,
        model.encoder.conv1.padding, bias=False,
    )  # fmt: skip
    reference.maxpool = model.encoder.maxpool
    reference.fc = torch.nn.Identity()
    weights = {k.removeprefix("encoder."): v for k, v in model.state_dict().items()}
    assert reference.load_state_dict(weights, strict=False).missing_keys == []
    return reference.eval()


@pytest.mark.parametrize(
    ("backbone", "channels", "stem", "size"),
    [("resnet18", 1, "imagenet", 64), ("resnet50", 3, "small", 32)],
)
def test_matches_bare_torchvision_backbone(backbone, channels, stem, size):
    torch.manual_seed(0)
    config = MocoImConfig(backbone=backbone, num_channels=channels, stem=stem, image_size=size)
    model = MocoImModel(config).eval()
    with torch.no_grad():  # random BN statistics, so the comparison is not trivially zero
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
    pixels = torch.randn(2, channels, size, size)
    with torch.no_grad():
        ours = model(pixels, output_hidden_states=True)
        theirs = torchvision_twin(model)(pixels)
    assert torch.allclose(ours.pooler_output, theirs, atol=1e-5)
    assert ours.pooler_output.shape == (2, config.hidden_size)
    assert [h.shape[1] for h in ours.hidden_states] == config.hidden_sizes
    assert ours.hidden_states[-1] is ours.last_hidden_state


def test_init_is_torchvision_like_and_zeroes_residual_branches(tiny_config):
    model = MocoImModel(tiny_config)
    block = model.encoder.layer1[0]
    assert torch.all(block.bn2.weight == 0)  # zero_init_residual
    assert torch.all(block.bn1.weight == 1)
    conv = model.encoder.layer3[0].conv1  # kaiming fan_out: std = sqrt(2 / (out * k * k))
    expected_std = (2 / (conv.out_channels * 9)) ** 0.5
    assert conv.weight.std().item() == pytest.approx(expected_std, rel=0.1)
    no_zero = MocoImModel(MocoImConfig(backbone="resnet18", zero_init_residual=False))
    assert torch.all(no_zero.encoder.layer1[0].bn2.weight == 1)


def test_wrong_channel_count_is_explained(tiny_config):
    with pytest.raises(
        ValueError, match=r"Expected pixel_values of shape \(batch, 1, height, width\)"
    ):
        MocoImModel(tiny_config)(torch.randn(1, 3, 32, 32))


def test_tuple_output_without_return_dict(tiny_config):
    model = MocoImModel(tiny_config).eval()
    last, pooled = model(torch.randn(1, 1, 32, 32), return_dict=False)
    assert last.ndim == 4 and pooled.shape == (1, 512)


def test_layer_features_pooled_and_maps(tiny_config):
    model = MocoImModel(tiny_config).eval()
    pixels = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        full = model(pixels, output_hidden_states=True).hidden_states
        pooled = model.layer_features(pixels, layers=["layer1", -1])
        maps = model.layer_features(pixels, layers=[2], pooled=False)
    assert list(pooled) == ["layer1", "layer4"]
    assert torch.allclose(pooled["layer1"], full[1].mean(dim=(2, 3)), atol=1e-6)
    assert torch.allclose(maps["layer2"], full[2])


def test_layer_features_stop_at_the_deepest_requested_stage(tiny_config):
    model = MocoImModel(tiny_config).eval()
    calls = []
    model.encoder.layer3.register_forward_hook(lambda *args: calls.append("layer3"))
    model.layer_features(torch.randn(1, 1, 32, 32), layers="layer2")
    assert calls == []


def test_resolve_layers():
    assert resolve_layers(None) == [0, 1, 2, 3, 4]
    assert resolve_layers(["layer4", "stem", -1, 1]) == [0, 1, 4]
    for bad in ("layer5", 5, -6, True):
        with pytest.raises(ValueError, match=r"index in -5..4"):
            resolve_layers(bad)


def test_save_and_load_round_trip(tiny_config, tmp_path):
    model = MocoImModel(tiny_config).eval()
    with torch.no_grad():  # loading must keep these, not re-initialise zero_init BNs
        model.encoder.layer1[0].bn2.weight.uniform_(0.5, 1.5)
    model.save_pretrained(tmp_path)
    loaded = MocoImModel.from_pretrained(tmp_path).eval()
    pixels = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(pixels).pooler_output, loaded(pixels).pooler_output)


def test_classifier_reuses_a_saved_encoder(tiny_config, tmp_path):
    encoder = MocoImModel(tiny_config).eval()
    encoder.save_pretrained(tmp_path)
    classifier = MocoImForImageClassification.from_pretrained(tmp_path, num_labels=3).eval()
    assert torch.equal(classifier.mocoim.encoder.conv1.weight, encoder.encoder.conv1.weight)
    assert classifier(torch.randn(2, 1, 32, 32)).logits.shape == (2, 3)


@pytest.mark.parametrize(
    ("problem_type", "labels", "reference"),
    [
        ("single_label_classification", torch.tensor([0, 2]), torch.nn.functional.cross_entropy),
        (
            "multi_label_classification",
            torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]),
            torch.nn.functional.binary_cross_entropy_with_logits,
        ),
        (
            "regression",
            torch.tensor([[0.5, 1.0, -1.0], [0.0, 2.0, 1.0]]),
            torch.nn.functional.mse_loss,
        ),
    ],
)
def test_classification_losses(tiny_config, problem_type, labels, reference):
    tiny_config.num_labels = 3
    tiny_config.problem_type = problem_type
    model = MocoImForImageClassification(tiny_config).eval()
    output = model(torch.randn(2, 1, 32, 32), labels=labels)
    assert torch.allclose(output.loss, reference(output.logits, labels))


def test_problem_type_is_inferred_from_labels(tiny_config):
    tiny_config.num_labels = 3
    model = MocoImForImageClassification(tiny_config).eval()
    labels = torch.tensor([1, 0])
    output = model(torch.randn(2, 1, 32, 32), labels=labels)
    assert torch.allclose(output.loss, torch.nn.functional.cross_entropy(output.logits, labels))


def test_trainer_fits_a_tiny_task(tiny_config, tmp_path):
    """transformers.Trainer drives the classifier: the loss falls on a separable toy problem."""
    torch.manual_seed(0)
    tiny_config.num_labels = 2
    model = MocoImForImageClassification(tiny_config)
    labels = torch.arange(16) % 2
    pixels = torch.randn(16, 1, 32, 32) * 0.1 + labels.view(-1, 1, 1, 1).float()
    data = [{"pixel_values": p, "labels": y} for p, y in zip(pixels, labels, strict=True)]
    args = TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=8, num_train_epochs=6,
        learning_rate=1e-3, report_to=[], save_strategy="no", logging_steps=1, use_cpu=True,
    )  # fmt: skip
    trainer = Trainer(model=model, args=args, train_dataset=data)
    trainer.train()
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert losses[-1] < losses[0]


def test_weights_from_a_state_dict_without_a_folder(tiny_config):
    source = MocoImModel(tiny_config)
    loaded = MocoImModel.from_pretrained(None, config=tiny_config, state_dict=source.state_dict())
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in source.state_dict().items())


def test_gradient_checkpointing_gives_the_same_gradients(tiny_config):
    torch.manual_seed(0)
    model = MocoImForImageClassification(MocoImConfig(**tiny_config.to_dict(), num_labels=3))
    pixels, labels = torch.randn(4, 1, 32, 32), torch.tensor([0, 1, 2, 0])

    def gradients() -> dict[str, torch.Tensor]:
        model.zero_grad()
        model(pixels, labels=labels).loss.backward()
        return {name: p.grad.clone() for name, p in model.named_parameters()}

    model.train()
    plain = gradients()
    assert model.supports_gradient_checkpointing and not model.is_activation_checkpointing
    model.activation_checkpointing_enable()
    stages = [m for m in model.modules() if isinstance(m, GradientCheckpointingLayer)]
    assert len(stages) == 4 and all(stage.gradient_checkpointing for stage in stages)
    assert model.is_activation_checkpointing
    checkpointed = gradients()
    assert all(torch.allclose(plain[n], checkpointed[n], atol=1e-5) for n in plain)
    calls = []
    for stage in stages:  # the recomputation runs through transformers' checkpoint function
        stage._gradient_checkpointing_func = lambda f, *a, _g=stage._gradient_checkpointing_func: (
            calls.append(f) or _g(f, *a)
        )
    gradients()
    assert len(calls) == 4
    model.activation_checkpointing_disable()
    assert not model.is_activation_checkpointing and not any(
        s.gradient_checkpointing for s in stages
    )
    model.activation_checkpointing_enable(every_n_layers=2)  # transformers' own option
    assert [stage.gradient_checkpointing for stage in stages] == [True, False, True, False]
    assert "encoder.layer1.0.conv1.weight" in MocoImModel(tiny_config).state_dict()  # names kept


def test_backbone_shares_the_encoder_weights_and_returns_the_asked_stages(tiny_config, tmp_path):
    from transformers import AutoBackbone, AutoConfig

    encoder = MocoImModel(tiny_config).eval()
    encoder.save_pretrained(tmp_path)
    backbone = MocoImBackbone.from_pretrained(tmp_path, out_features=["layer2", "layer4"]).eval()
    assert backbone.state_dict().keys() == encoder.state_dict().keys()
    assert all(torch.equal(backbone.state_dict()[k], v) for k, v in encoder.state_dict().items())
    assert backbone.channels == [128, 512]
    pixels = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        maps = backbone(pixels).feature_maps
        expected = encoder.layer_features(pixels, ["layer2", "layer4"], pooled=False)
    assert [m.shape for m in maps] == [e.shape for e in expected.values()]
    assert all(torch.equal(m, e) for m, e in zip(maps, expected.values(), strict=True))
    assert type(AutoBackbone.from_config(AutoConfig.from_pretrained(tmp_path))) is MocoImBackbone
    stages = {"out_indices": [-3, -1], "out_features": None}
    from_the_end = MocoImBackbone(MocoImConfig(**tiny_config.to_dict() | stages))
    assert [m.shape[1] for m in from_the_end.eval()(pixels).feature_maps] == [128, 512]


@pytest.mark.slow
def test_upernet_segmentation_trains_on_a_moco_im_backbone(tiny_config, tmp_path):
    """The common next step with a pretrained encoder: a segmentation head on its stages."""
    from transformers import UperNetConfig, UperNetForSemanticSegmentation

    torch.manual_seed(0)
    MocoImModel(tiny_config).save_pretrained(tmp_path)
    stages = ["layer1", "layer2", "layer3", "layer4"]
    backbone = MocoImBackbone.from_pretrained(tmp_path, out_features=stages)
    config = UperNetConfig(backbone_config=backbone.config, num_labels=2, hidden_size=32,
                           auxiliary_in_channels=backbone.channels[2], auxiliary_channels=16)  # fmt: skip
    model = UperNetForSemanticSegmentation(config)
    model.backbone.load_state_dict(backbone.state_dict())  # the pretrained weights, not a new init
    assert isinstance(model.backbone, MocoImBackbone)
    # a bright square on a dark background, its mask the target
    pixels = torch.randn(4, 1, 32, 32) * 0.1
    masks = torch.zeros(4, 32, 32, dtype=torch.long)
    pixels[:, :, 8:24, 8:24] += 2.0
    masks[:, 8:24, 8:24] = 1
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    model.train()
    for _ in range(15):
        output = model(pixel_values=pixels, labels=masks)
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        losses.append(output.loss.item())
    assert output.logits.shape == (4, 2, 32, 32)
    assert losses[-1] < 0.6 * losses[0], losses
