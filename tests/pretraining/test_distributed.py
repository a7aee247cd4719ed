"""MoCo-IM across processes: two gloo processes on CPU (torchrun) against one process on the
whole batch."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ranks import GLOBAL_BATCH, barlow, tagged_views, tiny_moco

from mocoim_hub.pretraining.build import uses_shuffle_bn
from mocoim_hub.pretraining.recipe import PretrainRecipe

RANKS = Path(__file__).with_name("ranks.py")


def run_ranks(check: str, output: Path) -> list[dict]:
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(RANKS), check, str(output)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return [torch.load(output / f"rank{rank}.pt", weights_only=True) for rank in (0, 1)]


@pytest.mark.multiprocess
def test_shuffle_bn_normalises_keys_with_samples_of_the_other_rank(tmp_path):
    ranks = run_ranks("shuffle_bn", tmp_path)
    half = GLOBAL_BATCH // 2
    for rank, seen in enumerate(ranks):
        own = set(range(rank * half, (rank + 1) * half))
        assert set(seen["query"].tolist()) == own  # queries stay with their rank
        assert len(seen["key"]) == half and set(seen["key"].tolist()) - own
    assert sorted(torch.cat([seen["key"] for seen in ranks]).tolist()) == list(range(GLOBAL_BATCH))
    # unshuffled: each key sits at its own image's place in the queue, computed with the
    # BatchNorm statistics of the batch whose rank encoded it
    moco, views = tiny_moco(), tagged_views()
    expected = torch.empty(GLOBAL_BATCH, 8)
    with torch.no_grad():
        for seen in ranks:
            expected[seen["key"]] = moco._embed(moco.encoder_k, moco.head_k, views[seen["key"]])[0]
    for seen in ranks:
        assert torch.allclose(seen["queue"], expected, atol=1e-5)


@pytest.mark.multiprocess
def test_barlow_twins_over_two_ranks_equals_one_process_on_the_whole_batch(tmp_path):
    ranks = run_ranks("barlow", tmp_path)
    whole = barlow(0, 1)
    for seen in ranks:
        assert seen["loss"].item() == pytest.approx(whole["loss"].item(), rel=1e-5)
        assert seen["grads"].keys() == whole["grads"].keys()
        for name, grad in whole["grads"].items():  # DDP's average of the ranks' gradients
            assert torch.allclose(seen["grads"][name], grad, atol=1e-5), name
    # the per-rank loss this replaces differs: a half batch alone
    assert barlow(0, 2)["loss"].item() != pytest.approx(whole["loss"].item(), rel=1e-3)


def test_shuffle_bn_is_on_wherever_batchnorm_statistics_are_split():
    recipe = PretrainRecipe.load("demo")
    assert not uses_shuffle_bn(recipe, world_size=1)
    assert uses_shuffle_bn(PretrainRecipe.from_dict({**recipe.to_dict(), "bn_splits": 2}))
    assert uses_shuffle_bn(recipe, world_size=2)
    synced = PretrainRecipe.from_dict({**recipe.to_dict(), "sync_bn": True})
    assert not uses_shuffle_bn(synced, world_size=2)
    off = PretrainRecipe.from_dict({**recipe.to_dict(), "shuffle_bn": False})
    assert not uses_shuffle_bn(off, world_size=1)
    with pytest.raises(ValueError, match="--no-shuffle-bn in a 2-process run without --sync-bn"):
        uses_shuffle_bn(off, world_size=2)
