"""Numeric precision: float32, bfloat16 autocast, or float16 autocast, with a gradient scaler in
training (the GPUs many hospitals own, V100 and T4, have float16 but no native bfloat16). Needs
only the base install: training and archive extraction share it."""

from __future__ import annotations

from typing import Any

import torch

PRECISIONS = ("fp32", "bf16", "fp16")


_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _check_name(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(
            f"Unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}."
        )


def autocast(precision: str, device: torch.device) -> torch.autocast:
    """The forward pass's autocast for `precision` on `device` (disabled for fp32)."""
    _check_name(precision)
    dtype = _AUTOCAST_DTYPES.get(precision)
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse bf16 on a GPU that would only emulate it (many times slower than its fp16)."""
    _check_name(precision)
    if (
        precision == "bf16"
        and device.type == "cuda"
        and not torch.cuda.is_bf16_supported(including_emulation=False)
    ):
        raise ValueError(
            f"precision bf16 on {torch.cuda.get_device_name(device)}, which has no native bfloat16 "
            "(it would be emulated, far slower): use precision fp16 (autocast with loss scaling, "
            "--precision fp16) or fp32."
        )


class MixedPrecision:
    """Autocast for the forward pass and, in fp16, a `GradScaler` for the backward pass and the
    optimizer step. A step whose gradients overflowed is skipped by the scaler (and the scale
    lowered); `skipped_steps` counts them."""

    def __init__(self, precision: str, device: torch.device):
        check_precision(precision, device)
        self.autocast = autocast(precision, device)
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        self.skipped_steps = 0

    def backward(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> bool:
        """Apply the accumulated gradients; False when fp16 overflow made the scaler skip them."""
        if not self.scaler.is_enabled():
            optimizer.step()
            return True
        scale = self.scaler.get_scale()
        self.scaler.step(optimizer)
        self.scaler.update()
        skipped = self.scaler.get_scale() < scale  # the scaler backs off only after an overflow
        self.skipped_steps += skipped
        return not skipped

    def state_dict(self) -> dict[str, Any]:
        return {"scaler": self.scaler.state_dict(), "skipped_steps": self.skipped_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["scaler"] and self.scaler.is_enabled():  # empty when saved by an fp32/bf16 run
            self.scaler.load_state_dict(state["scaler"])
        self.skipped_steps = state["skipped_steps"]
