import pytest

from mocoim_hub import MocoImConfig
from mocoim_hub.configuration_mocoim import GRAY_MEAN, IMAGENET_MEAN


def test_defaults_follow_channel_count():
    assert MocoImConfig(num_channels=1).image_mean == list(GRAY_MEAN)
    assert MocoImConfig(num_channels=3).image_mean == list(IMAGENET_MEAN)


@pytest.mark.parametrize(
    ("backbone", "sizes"),
    [("resnet18", [64, 64, 128, 256, 512]), ("resnet50", [64, 256, 512, 1024, 2048])],
)
def test_hidden_sizes(backbone, sizes):
    config = MocoImConfig(backbone=backbone)
    assert config.hidden_sizes == sizes
    assert config.hidden_size == sizes[-1]


def test_round_trip_keeps_provenance(tmp_path):
    config = MocoImConfig(
        backbone="resnet34",
        pretraining_recipe="paper-nih",
        pretraining_dataset="NIH ChestX-ray14",
        intermediate_loss="mse",
        intermediate_layers=[1, 2, 3, 4],
        intermediate_weights=[0.25] * 4,
        pretraining_hparams={"temperature": 0.07, "queue_size": 65536},
        id2label={0: "normal", 1: "effusion"},
    )
    config.save_pretrained(tmp_path)
    loaded = MocoImConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == config.to_dict()
    assert loaded.id2label == {0: "normal", 1: "effusion"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backbone": "vgg16"}, "Expected backbone to be one of resnet18, resnet34, resnet50"),
        ({"num_channels": 2}, "Expected num_channels to be 1 (grayscale) or 3 (RGB), but got 2"),
        ({"stem": "cifar"}, "Expected stem to be one of imagenet, small"),
        ({"image_size": 0}, "image_size to be an integer number of pixels in 8..4096"),
        ({"num_channels": 3, "image_mean": [0.5]}, "Expected 3 value(s) in image_mean"),
        ({"image_std": [0.0]}, "image_std to be a list of positive finite numbers"),
        ({"intermediate_loss": "l1"}, "intermediate_loss to be one of none, mse, barlow"),
        ({"intermediate_layers": [0], "intermediate_weights": [1.0]}, "stage numbers in 1..4"),
        ({"intermediate_layers": [1, 2], "intermediate_weights": [1.0]}, "one intermediate weight"),
        ({"intermediate_layers": [1], "intermediate_weights": [-1.0]}, "numbers >= 0"),
    ],
)
def test_invalid_values_are_rejected_with_the_valid_options(kwargs, message):
    with pytest.raises(ValueError) as excinfo:
        MocoImConfig(**kwargs)
    assert message in str(excinfo.value)


def test_label2id_with_string_ids_is_accepted_as_transformers_does():
    config = MocoImConfig(
        id2label={0: "normal", 1: "effusion"}, label2id={"normal": "0", "effusion": "1"}
    )
    assert config.num_labels == 2
    with pytest.raises(ValueError, match="not the inverse of id2label"):
        MocoImConfig(
            id2label={0: "normal", 1: "effusion"}, label2id={"normal": "1", "effusion": "0"}
        )


@pytest.mark.parametrize(
    ("field", "value"), [("num_channels", 2), ("backbone", "vgg16"), ("image_std", [0.0])]
)
def test_a_config_edited_after_construction_is_validated_when_saved(field, value, tmp_path):
    config = MocoImConfig()
    setattr(config, field, value)
    with pytest.raises(ValueError, match=field):
        config.save_pretrained(tmp_path)
    assert not (tmp_path / "config.json").exists()


def test_backbone_stages_default_to_the_last_and_round_trip(tmp_path):
    assert MocoImConfig().out_features == ["layer4"] and MocoImConfig().out_indices == [4]
    config = MocoImConfig(out_indices=[1, 3])
    assert config.out_features == ["layer1", "layer3"]
    config.save_pretrained(tmp_path)
    assert MocoImConfig.from_pretrained(tmp_path).out_features == ["layer1", "layer3"]
    with pytest.raises(ValueError, match="stage_names"):
        MocoImConfig(out_features=["stage9"])
