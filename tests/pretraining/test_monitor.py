import pytest
import torch

from mocoim_hub import MocoImConfig, MocoImImageProcessor, MocoImModel
from mocoim_hub.data.adapters import default_dataset
from mocoim_hub.pretraining.monitor import KnnMonitor, effective_rank


def test_knn_votes_recover_classes_and_not_shuffled_labels():
    """Noisy copies of one random pattern per class: neighbours share the class, shuffled labels
    fall to chance."""
    torch.manual_seed(0)
    labels = torch.arange(300) % 5
    patterns = torch.randn(5, 1, 32, 32)
    pixels = patterns[labels] + 0.1 * torch.randn(300, 1, 32, 32)
    encoder = MocoImModel(MocoImConfig(backbone="resnet18", image_size=32)).train()
    monitor = KnnMonitor(pixels[:200], labels[:200], pixels[200:], labels[200:])
    assert monitor.accuracy(encoder) == pytest.approx(1.0)
    assert encoder.training  # restored after evaluating
    shuffled = KnnMonitor(
        pixels[:200], labels[:200][torch.randperm(200)], pixels[200:], labels[200:]
    )
    assert shuffled.accuracy(encoder) < 0.5


def test_knn_under_bf16_autocast_votes_in_float32():
    """The training loop evaluates under the recipe's autocast; bf16 similarities once crashed the
    float32 vote (`scatter(): Expected self.dtype to be equal to src.dtype`)."""
    torch.manual_seed(0)
    labels = torch.arange(120) % 3
    pixels = torch.randn(3, 1, 32, 32)[labels] + 0.1 * torch.randn(120, 1, 32, 32)
    encoder = MocoImModel(MocoImConfig(backbone="resnet18", image_size=32))
    monitor = KnnMonitor(pixels[:80], labels[:80], pixels[80:], labels[80:])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert monitor.accuracy(encoder) == pytest.approx(1.0)


def test_monitor_prepares_real_splits():
    splits = default_dataset()
    processor = MocoImImageProcessor.from_model_config(MocoImConfig(image_size=32))
    monitor = KnnMonitor.from_splits(splits["train"], splits["validation"], processor, 50, 20)
    assert monitor.bank.shape == (50, 1, 32, 32) and monitor.queries.shape == (20, 1, 32, 32)
    assert set(monitor.bank_labels.tolist()) <= set(range(10))


def test_multi_label_knn_scores_each_label_and_unlabelled_data_gets_the_rank():
    """Two independent patterns per image (multi-hot): each label's kNN score separates it;
    shuffled labels fall to chance. Without labels, the rank alone."""
    torch.manual_seed(0)
    labels = torch.stack([torch.arange(300) % 2, torch.arange(300) // 2 % 2], dim=1)
    patterns = torch.randn(2, 2, 1, 32, 32)
    pixels = sum(patterns[j][labels[:, j]] for j in range(2)) + 0.1 * torch.randn(300, 1, 32, 32)
    encoder = MocoImModel(MocoImConfig(backbone="resnet18", image_size=32))
    figures = KnnMonitor(pixels[:200], labels[:200], pixels[200:], labels[200:]).measure(encoder)
    assert figures["knn_auroc"] > 0.95 and "knn_top1" not in figures
    shuffled = KnnMonitor(
        pixels[:200], labels[:200][torch.randperm(200)], pixels[200:], labels[200:]
    )
    assert shuffled.measure(encoder)["knn_auroc"] < 0.7
    assert set(KnnMonitor(pixels[:200]).measure(encoder)) == {"embedding_rank"}


def test_the_embedding_rank_falls_to_one_when_the_encoder_collapses():
    random = torch.randn(500, 64)
    assert effective_rank(random) > 50  # all 64 directions used
    one_direction = torch.randn(500, 1) * torch.randn(1, 64)
    assert effective_rank(one_direction) == pytest.approx(1.0, abs=0.01)
    torch.manual_seed(0)
    encoder = MocoImModel(MocoImConfig(backbone="resnet18", image_size=32))
    pixels = torch.randn(100, 1, 32, 32)
    healthy = KnnMonitor(pixels).measure(encoder)["embedding_rank"]
    with torch.no_grad():  # a collapsed encoder: the last stage outputs a constant
        for parameter in encoder.encoder.layer4.parameters():
            parameter.zero_()
    assert KnnMonitor(pixels).measure(encoder)["embedding_rank"] < 1.5 < healthy
