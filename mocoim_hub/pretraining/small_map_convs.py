"""Fast weight gradients for convolutions whose output map is tiny, on CPU.

oneDNN, torch's CPU convolution backend, computes the weight gradient of a convolution with only a
few output positions on a slow GEMM path: in a ResNet-18 at 32 px (ImageNet stem), layer4's maps are
1x1 and each of its 3x3 weight gradients takes ~400 ms at batch 256 against ~30 ms for the forward
(AVX2 machine), over half of a training step. That gradient is one matrix product,
`grad_output @ unfold(input)^T`, which is what `SmallMapConv2d` computes instead; the forward and the
input gradient stay oneDNN's. The parameters and state dict are those of `nn.Conv2d`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

# Output positions up to which the matrix product is used: 2x2 and 1x1 maps, the shapes measured
# slow (`benchmarks/bench_pretrain.py --image-size 32`); 4x4 and larger are fast in oneDNN.
MAX_POSITIONS = 4


class _WeightGradientByMatmul(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, weight, bias, stride, padding, dilation):
        ctx.save_for_backward(input, weight)
        ctx.geometry = stride, padding, dilation
        ctx.has_bias = bias is not None
        return F.conv2d(input, weight, bias, stride, padding, dilation)

    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        stride, padding, dilation = ctx.geometry
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = torch.nn.grad.conv2d_input(
                input.shape, weight, grad_output, stride, padding, dilation
            )
        if ctx.needs_input_grad[1]:
            columns = F.unfold(input, weight.shape[-2:], dilation, padding, stride)
            grad_weight = torch.einsum("bop,bkp->ok", grad_output.flatten(2), columns).view_as(
                weight
            )
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum((0, 2, 3))
        return grad_input, grad_weight, grad_bias, None, None, None


class SmallMapConv2d(nn.Conv2d):
    """`nn.Conv2d` whose weight gradient is a matrix product when training on CPU in float32
    with at most `MAX_POSITIONS` output positions (zero padding, one group); otherwise exactly
    `nn.Conv2d`."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if (
            input.device.type == "cpu"
            and not torch.is_autocast_enabled("cpu")  # measured in float32 only
            and torch.is_grad_enabled()
            and self.weight.requires_grad
            and self.groups == 1
            and self.padding_mode == "zeros"
            and self._positions(input) <= MAX_POSITIONS
        ):
            return _WeightGradientByMatmul.apply(
                input, self.weight, self.bias, self.stride, self.padding, self.dilation
            )
        return super().forward(input)

    def _positions(self, input: torch.Tensor) -> int:
        positions = 1
        for size, kernel, stride, padding, dilation in zip(
            input.shape[-2:],
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            strict=False,
        ):
            positions *= (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
        return positions


def use_small_map_convs(module: nn.Module) -> nn.Module:
    """Turn every plain `nn.Conv2d` in `module` into a `SmallMapConv2d`, in place (same
    parameters, same state dict), and return `module`."""
    for child in module.modules():
        if type(child) is nn.Conv2d and isinstance(child.padding, tuple):
            child.__class__ = SmallMapConv2d
    return module
