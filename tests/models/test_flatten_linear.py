"""FlattenLinear against ``F.linear(x.flatten(1), W, b)``: values and gradients (input, weight, bias)
on random maps, NCHW and channels-last, and mnist-race trained channels-last against the same
net flattening by copy: its weights and checkpoints are plain nn.Linear's."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cnnlab.models import create
from cnnlab.models.blocks import FlattenLinear


def _grads(layer: nn.Linear, x: torch.Tensor, forward) -> tuple[torch.Tensor, ...]:
    x = x.detach().clone().requires_grad_(True)
    layer.zero_grad(set_to_none=True)
    out = forward(x)
    g = torch.randn_like(out, dtype=torch.float64).to(out.dtype)
    out.backward(g)
    assert x.grad is not None and layer.weight.grad is not None and layer.bias is not None
    assert layer.bias.grad is not None
    return out.detach(), x.grad, layer.weight.grad.clone(), layer.bias.grad.clone()


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 5),
    c=st.integers(1, 6),
    h=st.integers(1, 5),
    w=st.integers(1, 5),
    out=st.integers(1, 7),
    channels_last=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_flatten_linear_is_flatten_then_linear(n, c, h, w, out, channels_last, seed):
    torch.manual_seed(seed)
    layer = FlattenLinear(c * h * w, out).double()
    x = torch.randn(n, c, h, w, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    torch.manual_seed(seed + 1)
    got = _grads(layer, x, layer)
    torch.manual_seed(seed + 1)
    ref = _grads(layer, x, lambda t: F.linear(t.flatten(1), layer.weight, layer.bias))
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b)


def test_a_channels_last_map_is_read_in_its_stored_order():
    """The path the race trains on (more images than outputs): a channels-last map goes to the
    permuted weight, not to a copy in (C, H, W) order; a wrong permutation of either gives a
    different answer."""
    torch.manual_seed(0)
    layer = FlattenLinear(3 * 4 * 5, 2)
    x = torch.randn(6, 3, 4, 5).contiguous(memory_format=torch.channels_last)
    assert not x.is_contiguous()
    torch.testing.assert_close(layer(x), F.linear(x.contiguous().flatten(1), layer.weight, layer.bias))
    wrong = F.linear(x.permute(0, 2, 3, 1).flatten(1), layer.weight, layer.bias)  # unpermuted weight
    assert not torch.allclose(layer(x), wrong)


def test_flatten_linear_keeps_nn_linears_state_dict():
    layer, plain = FlattenLinear(12, 3), nn.Linear(12, 3)
    plain.load_state_dict(layer.state_dict())
    x = torch.randn(5, 3, 2, 2).contiguous(memory_format=torch.channels_last)  # 5 images > 3 outputs
    torch.testing.assert_close(layer(x), plain(x.flatten(1)))
    assert isinstance(layer, nn.Linear)


@pytest.mark.parametrize(
    ("shape", "channels_last", "no_copy"),
    [
        ((6, 3, 4, 5), True, True),  # more images than outputs: the map as stored, no copy
        ((2, 3, 4, 5), True, False),  # fewer: the batch's copy is the cheaper one
        ((6, 3, 4, 5), False, True),  # NCHW: flatten is a view already
    ],
)
def test_the_channels_last_path_reads_the_map_without_copying_it(monkeypatch, shape, channels_last, no_copy):
    import cnnlab.models.blocks as blocks

    seen = []
    linear = F.linear

    def spy(inp, weight, bias=None):
        seen.append(inp)
        return linear(inp, weight, bias)

    monkeypatch.setattr(blocks.F, "linear", spy)  # torch.nn.functional's: nn.Linear calls it too
    layer = FlattenLinear(3 * 4 * 5, 4)
    x = torch.randn(shape)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    out = layer(x)
    assert len(seen) == 1 and (seen[0].data_ptr() == x.data_ptr()) == no_copy
    torch.testing.assert_close(out, linear(x.flatten(1), layer.weight, layer.bias))


def test_a_map_of_the_wrong_size_gets_nn_linears_error():
    layer = FlattenLinear(60, 4)
    x = torch.randn(8, 3, 4, 4).contiguous(memory_format=torch.channels_last)  # 48 features, not 60
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        layer(x)


@pytest.mark.parametrize("model", ["mnist-race", "mnist-fast"])
def test_channels_last_training_step_matches_the_flatten_copy(model):
    """One SGD step of the net in channels-last, against the same net in NCHW (whose fc flattens
    as x.flatten(1) always did): the same loss, gradients and updated weights. (SGD: Adam's first
    step is lr·sign(g), which turns a gradient's last-bit difference near 0 into a whole step.)"""
    torch.manual_seed(0)
    a = create(model)
    b = create(model)
    b.load_state_dict(a.state_dict())
    a = a.to(memory_format=torch.channels_last)  # pyright: ignore[reportCallIssue]
    x = torch.randn(160, 1, 28, 28)  # more images than fc's 128 outputs: the channels-last path
    y = torch.randint(0, 10, (160,))
    losses = []
    for net, inp in ((a, x.contiguous(memory_format=torch.channels_last)), (b, x)):
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        loss = F.cross_entropy(net(inp), y)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[0], losses[1])
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert p.grad is not None and q.grad is not None
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5, msg=name)
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5, msg=name)
