"""The one record of a measured result: a metric's value with its 95 % interval, for one encoder
trained with a share of the labels. Sweeps summarise into it, layer-wise probing and differences
between methods are written in it, and model cards render it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Estimate:
    """`metric` of `model` with `label_fraction` of the training labels, by a `mode` ("linear"
    probe on stage `layer`, or "full" fine-tuning): the mean `value` over `seeds` with its 95 %
    bootstrap interval, which resampled `interval` ("test images" or "pretraining seeds").
    With `baseline`, `value` is `model` minus `baseline`."""

    model: str
    mode: str
    label_fraction: float
    metric: str
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    seeds: int = 1
    layer: str = "layer4"
    baseline: str | None = None
    dataset: str = ""
    interval: str = "test images"

    @property
    def labels_text(self) -> str:
        return percent(self.label_fraction)

    @property
    def cell(self) -> str:
        interval = "" if self.ci_low is None else f" ({self.ci_low:.3f}–{self.ci_high:.3f})"
        return f"{self.value:.3f}{interval}"

    @property
    def excludes_zero(self) -> bool:
        return self.ci_low is not None and (self.ci_low > 0 or self.ci_high < 0)


def percent(fraction: float) -> str:
    return f"{fraction * 100:g} %"
