import copy

import pytest
import torch
from torch.nn import functional as F

from mocoim_hub import MocoImConfig, MocoImModel
from mocoim_hub.pretraining import IntermediateLoss, MocoIm


def tiny_moco(intermediate=None, queue_size=16, momentum=0.9) -> MocoIm:
    torch.manual_seed(0)
    encoder = MocoImModel(MocoImConfig(backbone="resnet18", image_size=32))
    return MocoIm(
        encoder, dim=8, queue_size=queue_size, momentum=momentum, intermediate=intermediate
    )


def test_ema_update_follows_the_formula():
    moco = tiny_moco(momentum=0.9)
    with torch.no_grad():
        for parameter in moco.query_parameters():
            parameter.add_(1.0)
    before_k = [p.clone() for p in moco.key_parameters()]
    moco.momentum_update()
    for k_old, k_new, q in zip(
        before_k, moco.key_parameters(), moco.query_parameters(), strict=True
    ):
        assert torch.allclose(k_new, 0.9 * k_old + 0.1 * q, atol=1e-6)


def test_queue_wraps_around():
    moco = tiny_moco(queue_size=5)
    first, second = F.normalize(torch.randn(3, 8), dim=1), F.normalize(torch.randn(4, 8), dim=1)
    moco.enqueue(first)
    moco.enqueue(second)
    assert int(moco.queue_ptr) == 2
    assert torch.equal(moco.queue[3:5], second[:2]) and torch.equal(moco.queue[0:2], second[2:])
    assert torch.equal(moco.queue[2], first[2])


def test_plain_moco_step_matches_a_reference_computation():
    moco = tiny_moco()
    reference = copy.deepcopy(moco)
    view1, view2 = torch.randn(4, 1, 32, 32), torch.randn(4, 1, 32, 32)
    queue = moco.queue.clone()
    output = moco(view1, view2)
    # reference: builder.py, step by step
    reference.momentum_update()
    q = F.normalize(reference.head_q(reference.encoder_q(view1).pooler_output), dim=1)
    with torch.no_grad():
        k = F.normalize(reference.head_k(reference.encoder_k(view2).pooler_output), dim=1)
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.T], dim=1) / 0.2
    expected = F.cross_entropy(logits, torch.zeros(4, dtype=torch.long))
    assert output.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert output.intermediate.item() == 0.0
    assert torch.allclose(moco.queue[:4], k, atol=1e-6) and int(moco.queue_ptr) == 4


@pytest.mark.parametrize("kind", ["mse", "barlow"])
def test_intermediate_loss_trains_the_query_side_only(kind):
    channels = MocoImConfig(backbone="resnet18").hidden_sizes
    loss = IntermediateLoss(kind, {1: 0.25, 2: 0.25, 3: 0.25, 4: 0.25}, channels, barlow_dim=32)
    moco = tiny_moco(loss)
    output = moco(torch.randn(4, 1, 32, 32), torch.randn(4, 1, 32, 32))
    assert set(output.per_layer) == {"layer1", "layer2", "layer3", "layer4"}
    expected = 0.25 * sum(output.per_layer.values())
    assert output.intermediate.item() == pytest.approx(expected.item(), rel=1e-5)
    output.loss.backward()
    assert moco.encoder_q.encoder.conv1.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in moco.key_parameters())


def test_intermediate_loss_validates_its_arguments():
    with pytest.raises(ValueError, match="expected 'mse' or 'barlow'"):
        IntermediateLoss("l1", {1: 1.0}, [64] * 5)
    with pytest.raises(ValueError, match="stage numbers 1..4"):
        IntermediateLoss("mse", {5: 1.0}, [64] * 5)


def test_micro_batches_of_one_optimizer_step_move_the_key_encoder_once():
    moco = tiny_moco(momentum=0.9)
    with torch.no_grad():
        for parameter in moco.query_parameters():
            parameter.add_(1.0)
    expected = [
        0.9 * k + 0.1 * q
        for k, q in zip(moco.key_parameters(), moco.query_parameters(), strict=True)
    ]
    for micro_batch in range(3):
        views = torch.randn(2, 4, 1, 32, 32)
        moco(*views, update_keys=micro_batch == 0)
    for key, want in zip(moco.key_parameters(), expected, strict=True):
        assert torch.allclose(key, want, atol=1e-6)
    assert int(moco.queue_ptr) == 12  # the queue still takes every micro-batch's keys
