"""Precision of a training step: fp16's gradient scaler skips (and counts) overflowed steps and
its state resumes; bf16 is refused on GPUs that would only emulate it, naming fp16."""

import pytest
import torch

from mocoim_hub.precision import MixedPrecision, check_precision


def test_bf16_on_a_gpu_without_native_bf16_is_refused_naming_fp16(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    with pytest.raises(ValueError, match="Tesla T4, which has no native bfloat16.*fp16"):
        check_precision("bf16", torch.device("cuda", 0))
    check_precision("fp16", torch.device("cuda", 0))
    check_precision("bf16", torch.device("cpu"))
    with pytest.raises(ValueError, match="Unknown precision 'fp8'"):
        check_precision("fp8", torch.device("cpu"))


def test_fp16_scaler_skips_an_overflowed_step_counts_it_and_resumes():
    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    precision = MixedPrecision("fp16", torch.device("cpu"))
    with precision.autocast:
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float16
    precision.backward((weight * float("inf")).sum())
    assert not precision.step(optimizer) and precision.skipped_steps == 1
    assert torch.equal(weight.detach(), torch.ones(3))  # the update was skipped
    optimizer.zero_grad()
    precision.backward((weight * 2).sum())
    assert precision.step(optimizer) and not torch.equal(weight.detach(), torch.ones(3))

    again = MixedPrecision("fp16", torch.device("cpu"))
    again.load_state_dict(precision.state_dict())
    assert again.skipped_steps == 1 and again.scaler.get_scale() == precision.scaler.get_scale()
    fp32 = MixedPrecision("fp32", torch.device("cpu"))
    again.load_state_dict(fp32.state_dict())  # a run continued in fp16 from an fp32 checkpoint
    assert again.skipped_steps == 0
