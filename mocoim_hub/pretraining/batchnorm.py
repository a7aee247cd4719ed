"""BatchNorm over sub-batches: what each GPU's BatchNorm sees under DDP, on one device.

MoCo's shuffle-BN exists because BatchNorm statistics computed over a batch let query and key of
the same image "communicate"; with one device, splitting the batch into groups (and shuffling the
key batch across them, `MocoIm(shuffle_bn=True)`) reproduces the multi-GPU behaviour. The same
split also makes a one-process run match a DDP run of the same global batch exactly.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class SplitBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics come from `splits` equal groups of the batch; the
    running statistics average the groups'. Same parameters and state dict as BatchNorm2d."""

    splits: int = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.splits == 1:
            return super().forward(x)
        n, c, h, w = x.shape
        if n % self.splits:
            raise ValueError(
                f"Batch of {n} does not split into {self.splits} equal BatchNorm groups."
            )
        # (groups, n/groups, c, h, w) -> normalise each group over its own samples
        groups = x.reshape(self.splits, n // self.splits, c, h, w).transpose(0, 1)
        groups = groups.reshape(n // self.splits, self.splits * c, h, w)
        mean, var = self.running_mean.repeat(self.splits), self.running_var.repeat(self.splits)
        out = F.batch_norm(
            groups, mean, var, self.weight.repeat(self.splits), self.bias.repeat(self.splits),
            True, self.momentum if self.momentum is not None else 0.1, self.eps,
        )  # fmt: skip
        with torch.no_grad():
            self.running_mean.copy_(mean.view(self.splits, c).mean(0))
            self.running_var.copy_(var.view(self.splits, c).mean(0))
            self.num_batches_tracked.add_(1)
        out = out.reshape(n // self.splits, self.splits, c, h, w).transpose(0, 1)
        return out.reshape(n, c, h, w)


def split_batchnorm(module: nn.Module, splits: int) -> nn.Module:
    """Turn every BatchNorm2d of `module` into a `SplitBatchNorm2d` with `splits` groups, in place
    (parameters and buffers are kept, so checkpoints and `save_pretrained` are unchanged)."""
    if splits < 1:
        raise ValueError(f"splits must be at least 1, got {splits}.")
    for submodule in module.modules():
        if type(submodule) is nn.BatchNorm2d or isinstance(submodule, SplitBatchNorm2d):
            submodule.__class__ = SplitBatchNorm2d
            submodule.splits = splits
    return module
