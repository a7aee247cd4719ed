"""The CUDA paths: pretraining in bf16 + channels_last with pinned memory and in fp16 with loss
scaling, NCCL with SyncBN on two GPUs, compiled inference. Skipped without CUDA;
`benchmarks/gpu/check.sh` runs them on a GPU machine (`-m cuda`)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mocoim_hub import MocoImImageProcessor, MocoImModel
from mocoim_hub.features import embed_images

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
SCRIPT = Path(__file__).parents[1] / "training" / "pretrain.py"
RUN = ["--recipe", "demo", "--max-steps", "4", "--log-every", "1", "--checkpoint-every", "2",
       "--num-workers", "2", "--device", "cuda", "--knn-every", "0"]  # fmt: skip


def finite_records(run: Path) -> list[dict]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert records and all(np.isfinite(r["loss"]) for r in records)
    return records


def test_bf16_channels_last_pretraining_compiled_matches_eager_stopped_and_resumed(tmp_path):
    """The demo recipe as it is (bf16, channels_last) on one GPU with pinned memory: a compiled
    run of 4 steps ends where an eager run stopped at step 2 and resumed ends, within bf16 noise."""

    def pretrain(run: Path, *extra: str) -> None:
        result = subprocess.run([sys.executable, str(SCRIPT), "--output-dir", str(run), *RUN, *extra],
                                capture_output=True, text=True, timeout=600)  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]

    compiled, resumed = tmp_path / "compiled", tmp_path / "resumed"
    pretrain(compiled, "--compile")
    pretrain(resumed, "--max-steps", "2")
    pretrain(resumed, "--resume")
    want, got = finite_records(compiled)[-1], finite_records(resumed)[-1]
    assert got["step"] == want["step"] == 4
    assert got["loss"] == pytest.approx(want["loss"], rel=2e-2)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="NCCL needs a GPU per process")
def test_two_gpu_nccl_with_sync_bn(tmp_path):
    run = tmp_path / "ddp"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(SCRIPT), "--output-dir", str(run), *RUN, "--sync-bn"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(finite_records(run)) == 4


def test_compiled_bf16_features_match_eager(saved_model_dir):
    model = MocoImModel.from_pretrained(saved_model_dir).cuda().eval()
    processor = MocoImImageProcessor.from_pretrained(saved_model_dir)
    images = list(np.random.default_rng(0).integers(0, 256, (8, 40, 48), dtype=np.uint8))
    with torch.autocast("cuda", dtype=torch.bfloat16):
        eager, compiled = (
            embed_images(model, processor, images, batch_size=8, compile=compile, progress=False)
            for compile in (False, True)
        )
    np.testing.assert_allclose(compiled["layer4"], eager["layer4"], rtol=5e-2, atol=5e-2)


def test_fp16_with_loss_scaling_trains_finite_and_resumes_exactly(tmp_path):
    """fp16 autocast with the gradient scaler on the GPU (the path for V100/T4): finite losses,
    skipped steps logged, and a run stopped at step 2 and resumed ends where a straight run does
    (within the noise of GPU kernels that need not be deterministic)."""
    from mocoim_hub.pretraining import Callback, PretrainingInterrupted, pretrain

    class StopAt2(Callback):
        def on_step_end(self, trainer, step, metrics):
            if step == 2:
                trainer.request_stop()

    run = dict(device="cuda", precision="fp16", max_steps=4, log_every=1, num_workers=2,
               knn_every=0, report_to=[], channels_last=False)  # fmt: skip
    straight = pretrain("demo", tmp_path / "straight", **run)
    assert "skipped_steps" in finite_records(tmp_path / "straight")[-1]
    with pytest.raises(PretrainingInterrupted):
        pretrain("demo", tmp_path / "stopped", callbacks=[StopAt2()], **run)
    resumed = pretrain("demo", tmp_path / "stopped", resume=True, **run)
    assert resumed.steps == straight.steps == 4
    assert resumed.metrics["loss"] == pytest.approx(straight.metrics["loss"], rel=1e-2)


def test_archive_extraction_in_bf16_on_the_gpu_matches_the_cpu(tmp_path, saved_model_dir):
    """`embed_archive` on CUDA (pinned batches from workers, bf16 autocast) against fp32 on the
    CPU: the same rows up to bf16 rounding."""
    from PIL import Image

    from mocoim_hub.archive import embed_archive

    paths = []
    for index, pixels in enumerate(np.random.default_rng(0).integers(0, 65535, (12, 48, 40))):
        paths.append(tmp_path / f"{index}.png")
        Image.fromarray(pixels.astype(np.uint16)).save(paths[-1])
    model = MocoImModel.from_pretrained(saved_model_dir)
    processor = MocoImImageProcessor.from_pretrained(saved_model_dir)
    gpu, cpu = (
        embed_archive(model, processor, paths, tmp_path / device, device=device, precision=precision,
                      shard_size=5, num_workers=2, progress=False).layer()
        for device, precision in (("cuda", "bf16"), ("cpu", "fp32"))
    )  # fmt: skip
    cosine = (gpu * cpu).sum(1) / np.linalg.norm(gpu, axis=1) / np.linalg.norm(cpu, axis=1)
    assert cosine.min() > 0.99
