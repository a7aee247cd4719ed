import copy

import pytest
import torch
from torch import nn

from mocoim_hub import MocoImConfig, MocoImModel
from mocoim_hub.pretraining.small_map_convs import SmallMapConv2d, use_small_map_convs


@pytest.mark.parametrize(
    "channels, size, kernel, stride, padding, dilation, bias",
    [
        ((16, 24), 1, 3, 1, 1, 1, False),  # ResNet layer4 at 32 px
        ((8, 16), 4, 3, 2, 1, 1, False),  # a stage's first conv, 4x4 -> 2x2
        ((8, 16), 3, 1, 2, 0, 1, False),  # the 1x1 stride-2 shortcut
        ((4, 6), 2, 3, 1, 2, 2, True),  # dilation and a bias
    ],
)
def test_gradients_equal_conv2d(channels, size, kernel, stride, padding, dilation, bias):
    torch.manual_seed(0)
    plain = nn.Conv2d(*channels, kernel, stride, padding, dilation, bias=bias)
    small = use_small_map_convs(copy.deepcopy(plain))
    assert type(small) is SmallMapConv2d
    x = torch.randn(5, channels[0], size, size)
    outputs, gradients = [], []
    for conv in (plain, small):
        input = x.clone().requires_grad_()
        output = conv(input)
        output.backward(torch.randn_like(output, generator=torch.Generator().manual_seed(1)))
        outputs.append(output)
        gradients.append([input.grad, *(p.grad for p in conv.parameters())])
    assert "WeightGradientByMatmul" in type(outputs[1].grad_fn).__name__
    torch.testing.assert_close(outputs[1], outputs[0])
    for got, want in zip(gradients[1], gradients[0], strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_large_maps_and_inference_use_conv2d_as_it_is():
    conv = use_small_map_convs(nn.Conv2d(3, 4, 3, padding=1))
    assert "WeightGradientByMatmul" not in type(conv(torch.randn(2, 3, 3, 3)).grad_fn).__name__
    with torch.no_grad():
        assert conv(torch.randn(2, 3, 1, 1)).grad_fn is None
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast's bf16 path, gradients and all
        output = conv(torch.randn(2, 3, 1, 1))
        assert "WeightGradientByMatmul" not in type(output.grad_fn).__name__
    output.sum().backward()
    assert conv.weight.grad.dtype == torch.float32


def test_an_encoder_keeps_its_state_dict_and_trains_alike():
    torch.manual_seed(0)
    plain = MocoImModel(MocoImConfig(backbone="resnet18", image_size=32)).train()
    small = use_small_map_convs(copy.deepcopy(plain))
    assert sum(type(m) is SmallMapConv2d for m in small.modules()) == 20
    assert small.state_dict().keys() == plain.state_dict().keys()
    pixels = torch.randn(8, 1, 32, 32)
    for model in (plain, small):
        model(pixels).pooler_output.square().sum().backward()
    for (name, want), got in zip(plain.named_parameters(), small.parameters(), strict=True):
        torch.testing.assert_close(got.grad, want.grad, atol=1e-4, rtol=1e-3, msg=name)
