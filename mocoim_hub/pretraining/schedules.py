"""Learning-rate and momentum schedules: pure functions of the step."""

from __future__ import annotations

import math

LR_SCHEDULES = ("constant", "cosine")


def learning_rate(
    step: int, total_steps: int, base_lr: float, schedule: str, warmup_steps: int = 0
) -> float:
    """Linear warmup to `base_lr`, then constant or cosine decay to 0 at `total_steps`."""
    if schedule not in LR_SCHEDULES:
        raise ValueError(
            f"Unknown lr schedule {schedule!r}; expected one of {', '.join(LR_SCHEDULES)}."
        )
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    if schedule == "constant":
        return base_lr
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return base_lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def ema_momentum(step: int, total_steps: int, base: float, schedule: str) -> float:
    """The key encoder's EMA momentum: constant (MoCo) or cosine-increased to 1 (BYOL-style)."""
    if schedule == "constant":
        return base
    if schedule != "cosine":
        raise ValueError(f"Unknown momentum schedule {schedule!r}; expected constant or cosine.")
    progress = min(1.0, step / max(1, total_steps))
    return 1 - (1 - base) * 0.5 * (1 + math.cos(math.pi * progress))
