import math

import pytest
import torch
from torch.nn import functional as F

from mocoim_hub.pretraining.losses import BarlowTwinsLoss, InfoNCELoss, IntermediateMSELoss


def test_infonce_against_a_hand_computation():
    torch.manual_seed(0)
    query, key = F.normalize(torch.randn(4, 8), dim=1), F.normalize(torch.randn(4, 8), dim=1)
    queue = F.normalize(torch.randn(16, 8), dim=1)
    loss = InfoNCELoss(temperature=0.1)(query, key, queue)
    expected = 0.0
    for i in range(4):
        scores = [query[i] @ key[i]] + [query[i] @ negative for negative in queue]
        scores = torch.stack(scores) / 0.1
        expected += -(scores[0] - torch.logsumexp(scores, dim=0)) / 4
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_infonce_is_log_k_plus_one_when_nothing_is_separated():
    query = key = torch.ones(3, 4) / 2
    queue = torch.ones(7, 4) / 2
    assert InfoNCELoss(0.2)(query, key, queue).item() == pytest.approx(math.log(8), rel=1e-6)
    with pytest.raises(ValueError, match="temperature must be positive"):
        InfoNCELoss(0.0)


def test_mse_pooled_and_map_forms():
    torch.manual_seed(0)
    query, key = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    pooled = IntermediateMSELoss("pooled")(query, key)
    assert pooled.item() == pytest.approx(F.mse_loss(query.mean((2, 3)), key.mean((2, 3))).item())
    grid = IntermediateMSELoss("map", grid=4)(query, key)
    expected = F.mse_loss(F.avg_pool2d(query, 2), F.avg_pool2d(key, 2))
    assert grid.item() == pytest.approx(expected.item(), rel=1e-6)
    same = IntermediateMSELoss("map", grid=8)(query, query)
    assert same.item() == 0.0


def test_normalised_mse_cannot_be_lowered_by_shrinking_features():
    torch.manual_seed(0)
    query, key = torch.randn(4, 6, 2, 2), torch.randn(4, 6, 2, 2)
    raw, normalised = IntermediateMSELoss(), IntermediateMSELoss(normalize=True)
    assert raw(query * 0.01, key * 0.01) < raw(query, key)
    assert normalised(query * 0.01, key * 0.01).item() == pytest.approx(
        normalised(query, key).item(), rel=1e-5
    )
    with pytest.raises(ValueError, match="expected one of pooled, map"):
        IntermediateMSELoss("gram")


def reference_barlow(z1, z2, weighting):
    z1 = (z1 - z1.mean(0)) / torch.sqrt(z1.var(0, unbiased=False) + 1e-5)
    z2 = (z2 - z2.mean(0)) / torch.sqrt(z2.var(0, unbiased=False) + 1e-5)
    c = z1.T @ z2 / len(z1)
    on = ((torch.diagonal(c) - 1) ** 2).sum()
    off = (c**2).sum() - (torch.diagonal(c) ** 2).sum()
    return on + 0.0051 * off if weighting == "standard" else 5e-5 * (on + off) / 32


@pytest.mark.parametrize("weighting", ["standard", "paper"])
def test_barlow_against_a_reference_and_invariant_to_affine_rescaling(weighting):
    torch.manual_seed(0)
    z1, z2 = torch.randn(32, 16), torch.randn(32, 16) + 0.5 * torch.randn(32, 16)
    loss = BarlowTwinsLoss(16, weighting)
    value = loss(z1, z2)
    assert value.item() == pytest.approx(reference_barlow(z1, z2, weighting).item(), rel=1e-4)
    scale, shift = torch.rand(16) * 5 + 0.5, torch.randn(16) * 3
    assert loss(z1 * scale + shift, z2).item() == pytest.approx(value.item(), rel=1e-3)


def test_barlow_rejects_bad_settings():
    with pytest.raises(ValueError, match="expected one of paper, standard"):
        BarlowTwinsLoss(4, "vicreg")
    with pytest.raises(ValueError, match="at least 2"):
        BarlowTwinsLoss(4)(torch.randn(1, 4), torch.randn(1, 4))
