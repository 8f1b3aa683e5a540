"""Receptive-field boxes against a gradient brute force, on random nets with strided,
dilated, padded, transposed and upsampling layers (hypothesis)."""

from __future__ import annotations

import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from cnnlab.conv import conv_output_size
from cnnlab.viz.receptive_field import receptive_fields


@st.composite
def layers(draw):
    kind = draw(st.sampled_from(["conv", "transposed", "upsample", "avgpool"]))
    k, s, d = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    p = draw(st.integers(0, d * (k - 1)))
    if kind == "conv":
        return kind, dict(kernel_size=k, stride=s, padding=p, dilation=d)
    if kind == "transposed":
        return kind, dict(kernel_size=k, stride=s, padding=min(p, d * (k - 1)), dilation=d)
    if kind == "upsample":
        return kind, dict(
            scale_factor=draw(st.sampled_from([2, 3])), mode=draw(st.sampled_from(["nearest", "bilinear"]))
        )
    return kind, dict(kernel_size=k, stride=s, padding=min(p, k // 2))


def build(spec, size: int) -> tuple[nn.Sequential, int]:
    mods = []
    for kind, kw in spec:
        if kind == "conv":
            mods.append(nn.Conv2d(1, 1, **kw))
            size = conv_output_size(size, kw["kernel_size"], kw["stride"], kw["padding"], kw["dilation"])
        elif kind == "transposed":
            mods.append(nn.ConvTranspose2d(1, 1, **kw))
            size = (size - 1) * kw["stride"] - 2 * kw["padding"] + kw["dilation"] * (kw["kernel_size"] - 1) + 1
        elif kind == "upsample":
            mods.append(nn.Upsample(**kw))
            size = size * kw["scale_factor"]
        else:
            mods.append(nn.AvgPool2d(**kw))
            size = conv_output_size(size, kw["kernel_size"], kw["stride"], kw["padding"])
        assume(1 <= size <= 48)
    model = nn.Sequential(*mods).double()
    with torch.no_grad():  # positive weights, zero biases: every path carries gradient
        for name, p in model.named_parameters():
            p.copy_(p.abs() + 0.05 if "weight" in name else torch.zeros_like(p))
    return model.eval(), size


def brute_force_box(model, n: int, position) -> tuple[tuple[int, int], ...]:
    x = (torch.rand(1, 1, n, n, dtype=torch.float64) + 0.5).requires_grad_()
    model(x)[(0, 0, *position)].backward()
    ys, xs = (x.grad[0, 0] > 0).nonzero(as_tuple=True)
    if len(ys) == 0:
        return ((0, 0), (0, 0))
    return (int(ys.min()), int(ys.max()) + 1), (int(xs.min()), int(xs.max()) + 1)


@settings(max_examples=30, deadline=None)
@given(st.lists(layers(), min_size=1, max_size=3), st.integers(5, 14), st.data())
def test_box_equals_gradient_brute_force(spec, n, data):
    try:
        model, out = build(spec, n)
    except ValueError:  # a window that does not fit (conv_output_size refuses it)
        assume(False)
    last = str(len(spec) - 1)
    field = receptive_fields(model, (1, n, n), [last])[last]
    for _ in range(3):
        pos = (data.draw(st.integers(0, out - 1)), data.draw(st.integers(0, out - 1)))
        assert field.box(pos, (n, n)) == brute_force_box(model, n, pos), (spec, n, pos)


def test_transposed_conv_halves_the_jump():
    model = nn.Sequential(nn.Conv2d(1, 1, 3, stride=2), nn.ConvTranspose2d(1, 1, 2, stride=2))
    fields = receptive_fields(model, (1, 16, 16), ["0", "1"])
    assert fields["0"].jump == (2.0, 2.0) and fields["1"].jump == (1.0, 1.0)  # 2 · 1/2, not 2 · 1
    assert fields["1"].size == (4.0, 4.0)  # 3 + (2 − 1)/2 · 2


def test_float64_and_bfloat16_models():
    for dtype in (torch.float64, torch.float16, torch.bfloat16):
        model = nn.Sequential(nn.Conv2d(1, 2, 5), nn.MaxPool2d(2)).to(dtype)
        assert receptive_fields(model, (1, 28, 28), ["1"])["1"].size == (6.0, 6.0)
