"""``cnnlab.size`` on sequence and attention models, transposed convs and adaptive pools,
against hand counts; per example whatever the batch; one row per op call, named uniquely,
with the weights on the row of the op that uses them."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from cnnlab.size import analyze

L, E, H, HEADS = 20, 64, 32, 4  # sequence length, input width, hidden size, attention heads


class MatmulOverSequence(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.W = nn.Parameter(torch.randn(E, 10))

    def forward(self, x):  # (N, L, E)
        return x @ self.W  # (N, L, 10)


class SelfAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(E, HEADS, batch_first=True)

    def forward(self, x):  # (N, L, E)
        return self.attn(x, x, x)[0]


class Recurrent(nn.Module):
    def __init__(self, cell: type[nn.Module]) -> None:
        super().__init__()
        self.rnn = cell(E, H, batch_first=True)

    def forward(self, x):  # (N, L, E)
        return self.rnn(x)[0]  # (N, L, H)


def test_functional_matmul_over_a_sequence():
    row = analyze(MatmulOverSequence(), (L, E)).layers[0]
    assert row["output_shape"] == [L, 10] and row["units"] == L * 10
    assert row["macs"] == L * E * 10 and row["weights"] == E * 10


def test_multihead_attention_by_hand():
    rows = analyze(SelfAttention(), (L, E)).layers
    d = E // HEADS
    expected = [  # (units, MACs, weights) of the four products
        (L * 3 * E, L * E * 3 * E, 3 * E * E + 3 * E),  # in-projection: Q, K, V at once
        (HEADS * L * L, HEADS * L * L * d, 0),  # Q·Kᵀ per head
        (HEADS * L * d, HEADS * L * L * d, 0),  # attention · V per head
        (L * E, L * E * E, E * E + E),  # out-projection (out_proj.weight is used here)
    ]
    assert [(r["units"], r["macs"], r["weights"]) for r in rows] == expected
    assert rows[-1]["parameters"] == ["attn.out_proj.bias", "attn.out_proj.weight"]
    assert len({r["name"] for r in rows}) == len(rows)


@pytest.mark.parametrize("cell,gates", [(nn.LSTM, 4), (nn.GRU, 3)])
def test_recurrent_layers_by_hand(cell, gates):
    report = analyze(Recurrent(cell), (L, E))
    rows = report.layers
    assert len(rows) == 2 * L  # the input and the hidden product at every step
    assert report.totals["macs"] == L * gates * H * (E + H)
    assert report.totals["weights"] == gates * H * (E + H) + 2 * gates * H
    assert sum(r["units"] for r in rows) == 2 * L * gates * H
    names = [r["name"] for r in rows]
    assert len(set(names)) == len(names) and names[1] == "rnn.matmul (call 2)"
    # every step's saved activations are its own, not a copy of the last row's
    assert sum(r["train_activation_bytes"] for r in rows) == report.totals["train_activation_bytes"] > 0


@pytest.mark.parametrize(
    "model,shape",
    [
        (MatmulOverSequence(), (L, E)),
        (SelfAttention(), (L, E)),
        (Recurrent(nn.LSTM), (L, E)),
        (nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 5)), (3, 9, 9)),
    ],
)
def test_rows_do_not_depend_on_the_batch(model, shape):
    keys = ("name", "type", "output_shape", "units", "weights", "connections", "macs")
    one, four = (analyze(model, shape, batch=b) for b in (1, 4))
    assert [[r[k] for k in keys] for r in one.layers] == [[r[k] for k in keys] for r in four.layers]


def test_transposed_conv_by_hand():
    row = analyze(nn.ConvTranspose2d(3, 5, 4, stride=2, padding=1), (3, 8, 8)).layers[0]
    # each of the 3·8·8 inputs is scattered through 5 output maps × 4·4 taps; the output is 16×16
    assert row["output_shape"] == [5, 16, 16] and row["macs"] == 3 * 8 * 8 * 5 * 16
    assert row["weights"] == 3 * 5 * 16 + 5 and row["connections"] == row["macs"] + 5 * 16 * 16


def test_adaptive_pool_counts_every_window():
    # 7 -> 4: torch's windows are [0, 2), [1, 4), [3, 6), [5, 7): 2 + 3 + 3 + 2 = 10 per axis
    row = analyze(nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(4)), (1, 9, 9)).layers[1]
    assert row["connections"] == 2 * 10 * 10


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_models_in_other_dtypes(dtype):
    report = analyze(nn.Sequential(nn.Conv2d(1, 3, 3), nn.Flatten(), nn.Linear(3 * 26 * 26, 10)).to(dtype), (1, 28, 28))
    assert report.totals["macs"] == 3 * 26 * 26 * 9 + 3 * 26 * 26 * 10
    assert report.totals["param_bytes"] == report.totals["weights"] * torch.empty(0, dtype=dtype).element_size()


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(0, 2),
    st.integers(1, 2),
    st.booleans(),
    st.integers(4, 12),
    st.booleans(),
)
def test_conv_layers_match_the_formulas(groups, per_in, k, stride, padding, dilation, transposed, n, bias):
    cin, cout = groups * per_in, groups * 2
    if transposed:
        assume(padding <= dilation * (k - 1))
        layer = nn.ConvTranspose2d(cin, cout, k, stride, padding, groups=groups, bias=bias, dilation=dilation)
        out = (n - 1) * stride - 2 * padding + dilation * (k - 1) + 1
    else:
        layer = nn.Conv2d(cin, cout, k, stride, padding, dilation, groups, bias)
        out = (n + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    assume(out >= 1)
    row = analyze(layer, (cin, n, n)).layers[0]
    assert row["output_shape"] == [cout, out, out]
    # a MAC per (input, weight) pair: per output unit for a conv, per input unit for a transposed one
    taps = (cout if transposed else cin) // groups * k * k
    assert row["macs"] == (cin * n * n * taps if transposed else cout * out * out * taps)
    assert row["weights"] == cin * cout // groups * k * k + (cout if bias else 0)
    assert row["units"] == math.prod(row["output_shape"])
