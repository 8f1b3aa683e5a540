"""LocallyConnected2d against a brute-force loop, and the lecture's weight-sharing argument."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnnlab.errors import CnnlabError
from cnnlab.nn import LocallyConnected2d


def brute_force(layer: LocallyConnected2d, x: torch.Tensor) -> torch.Tensor:
    """Loop over every output position and channel: a separate filter at each."""
    top, bottom, left, right = layer.pads
    xp = F.pad(x, (left, right, top, bottom))
    (kh, kw), (sh, sw), (oh, ow) = layer.kernel_size, layer.stride, layer.output_size
    w = layer.weight.view(oh, ow, layer.out_channels, layer.in_channels, kh, kw)
    out = torch.zeros(x.shape[0], layer.out_channels, oh, ow, dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]  # (N, I, kh, kw)
            out[:, :, i, j] = torch.einsum("nikl,oikl->no", patch, w[i, j])
    if layer.bias is not None:
        out = out + layer.bias
    return out


@pytest.mark.parametrize(
    "cin,cout,size,k,stride,padding,bias",
    [
        (3, 4, (7, 6), 3, 1, 0, True),
        (2, 5, (9, 9), 3, 2, 1, True),
        (1, 2, (8, 8), 4, 1, "same", False),
        (2, 3, (6, 7), (2, 3), (2, 1), (1, 0), True),
    ],
)
def test_values_and_gradients_match_brute_force(cin, cout, size, k, stride, padding, bias):
    torch.manual_seed(0)
    layer = LocallyConnected2d(cin, cout, size, k, stride, padding, bias).double()
    x = torch.randn(2, cin, *size, dtype=torch.float64, requires_grad=True)
    out, ref = layer(x), brute_force(layer, x)
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(out)
    params = [x, layer.weight] + ([layer.bias] if bias else [])
    torch.testing.assert_close(torch.autograd.grad(out, params, g), torch.autograd.grad(ref, params, g))


def test_same_filter_everywhere_is_a_convolution_and_its_gradient_is_the_sum():
    torch.manual_seed(1)
    conv = torch.nn.Conv2d(3, 4, 3, padding=1).double()
    layer = LocallyConnected2d.from_conv(conv, (6, 5)).double()
    x = torch.randn(2, 3, 6, 5, dtype=torch.float64)
    torch.testing.assert_close(layer(x), conv(x))
    # backpropagation with weight constraints: the shared filter's gradient is the sum of the per-position gradients
    g = torch.randn(2, 4, 6, 5, dtype=torch.float64)
    (conv(x) * g).sum().backward()
    (layer(x) * g).sum().backward()
    torch.testing.assert_close(layer.weight.grad.sum(0).view_as(conv.weight), conv.weight.grad)
    torch.testing.assert_close(layer.bias.grad.sum((1, 2)), conv.bias.grad)


def test_the_lectures_example_has_4m_parameters():
    layer = LocallyConnected2d(1, 1, (200, 200), 10, padding="same", bias=False)
    assert layer.output_size == (200, 200)  # 40K hidden units
    assert sum(p.numel() for p in layer.parameters()) == 4_000_000
    shared = torch.nn.Conv2d(1, 1, 10, bias=False)
    assert sum(p.numel() for p in shared.parameters()) == 100  # the same units with weight sharing


def test_wrong_input_is_a_clear_error():
    layer = LocallyConnected2d(1, 2, (8, 8), 3)
    with pytest.raises(CnnlabError, match=r"built for \(N, 1, 8, 8\) input and got shape \(1, 1, 9, 9\)"):
        layer(torch.randn(1, 1, 9, 9))
    with pytest.raises(CnnlabError, match=r"got shape \(1, 8, 8\); add a batch axis"):
        layer(torch.randn(1, 8, 8))
    with pytest.raises(ValueError, match="does not fit"):
        LocallyConnected2d(1, 1, (2, 2), 5)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"stride": 0}, "stride must be an integer of at least 1"),
        ({"kernel_size": 0}, "kernel_size must be an integer of at least 1"),
        ({"in_channels": 0}, "in_channels must be an integer of at least 1"),
        ({"padding": "full"}, "unknown padding 'full'"),
        ({"padding": -1}, "padding must be an integer of at least 0"),
        ({"padding_mode": "mirror"}, "unknown padding_mode 'mirror'"),
        ({"padding": "same", "stride": 2}, "padding='same' needs stride 1"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, message):
    args = {"in_channels": 1, "out_channels": 1, "input_size": 8, "kernel_size": 3, **kwargs}
    with pytest.raises(CnnlabError, match=message):
        LocallyConnected2d(**args)


def test_valid_padding_is_no_padding():
    assert LocallyConnected2d(1, 1, 8, 3, padding="valid").output_size == (6, 6)


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding,stride", [(1, 1), (2, 2), ((1, 2), (1, 2)), ("same", 1)])
def test_from_conv_equals_the_conv_for_every_padding_mode(padding_mode, padding, stride):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(2, 3, (3, 4) if padding != "same" else 3, stride, padding, padding_mode=padding_mode)
    conv = conv.double()
    x = torch.randn(2, 2, 7, 9, dtype=torch.float64)
    layer = LocallyConnected2d.from_conv(conv, (7, 9)).double()
    torch.testing.assert_close(layer(x), conv(x))
