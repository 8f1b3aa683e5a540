"""How much work each kind of layer does: multiply-accumulates (MACs) and the lecture's
connections, per example.

The lecture's definitions (slide "Size of a Conv Net"):

* fully connected, M inputs and N outputs: M·N connections (and M·N weights);
* convolution, W×H×J output units, K×K kernels, I input channels: W·H·K²·I·J connections
  (but only K²·I·J weights: they are shared);
* pooling with an F×F window: units·F² connections (no weights).

For conv, fully connected and locally connected layers a connection is one multiply-add,
so connections = MACs per example. With biases counted, each unit has one more connection
(its bias), as LeCun et al. 1998 count them (C1: 122,304 = 28·28·6·(25 + 1)).
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from cnnlab.models.lenet1998 import PartialConv2d, RBFOutput, Subsampling2d
from cnnlab.nn.locally_connected import LocallyConnected2d
from cnnlab.nn.pooling import StochasticPool2d

# aten ops that are layers of their own (the rest fold into the layer they follow)
CONV_OPS = {"convolution"}
MATMUL_OPS = {"mm", "addmm", "bmm", "baddbmm", "mv", "addmv", "dot", "_scaled_mm"}
POOL_OPS = {
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "max_pool2d_with_indices",
    "max_pool3d_with_indices",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "_adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "_adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
}

POOL_MODULES = (
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.LPPool1d,
    nn.LPPool2d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
    StochasticPool2d,
)
CONV_MODULES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def layer_type(module: nn.Module) -> str | None:
    """The row type of a module that is a layer of its own, or None (containers, activations…)."""
    if isinstance(module, PartialConv2d):
        return "conv (partial)"
    if isinstance(module, CONV_MODULES):
        return "conv"
    if isinstance(module, nn.Linear):
        return "fully connected"
    if isinstance(module, LocallyConnected2d):
        return "locally connected"
    if isinstance(module, Subsampling2d):
        return "subsampling"
    if isinstance(module, POOL_MODULES):
        return "pooling"
    if isinstance(module, RBFOutput):
        return "RBF"
    return None


def op_type(op: str) -> str | None:
    if op in CONV_OPS:
        return "conv"
    if op in MATMUL_OPS:
        return "matmul"
    if op in POOL_OPS:
        return "pooling"
    return None


def op_macs(op: str, args: tuple, out: torch.Tensor) -> int:
    """Multiply-accumulates of one aten op, over the whole batch (0 for ops that have none)."""
    if op == "convolution":
        x, w, transposed = args[0], args[1], args[6]
        if transposed:  # each input element is scattered through C_out/groups × kernel weights
            return x.numel() * (w.shape[1]) * math.prod(w.shape[2:])
        return out.numel() * (w.shape[1]) * math.prod(w.shape[2:])  # w: (C_out, C_in/groups, k...)
    if op in ("mm", "addmm"):
        a, b = (args[1], args[2]) if op == "addmm" else (args[0], args[1])
        return a.shape[0] * a.shape[1] * b.shape[1]
    if op in ("bmm", "baddbmm"):
        a, b = (args[1], args[2]) if op == "baddbmm" else (args[0], args[1])
        return a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]
    if op in ("mv", "addmv"):
        a = args[1] if op == "addmv" else args[0]
        return a.shape[0] * a.shape[1]
    if op == "dot":
        return args[0].numel()
    return 0


ADAPTIVE_MODULES = tuple(m for m in POOL_MODULES if m.__name__.startswith("Adaptive"))


def pool_window(module: nn.Module | None, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> int:
    """F² (the window size) of a pooling layer (for an adaptive pool see ``adaptive_connections``)."""
    kernel = getattr(module, "kernel_size", None) or getattr(module, "extent", None)
    nd = len(out_shape) - 1
    assert kernel is not None, f"{type(module).__name__} is counted as pooling but has no kernel_size"
    return math.prod(kernel) if isinstance(kernel, tuple) else kernel**nd


def adaptive_connections(in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> int:
    """Connections of an adaptive pool: output i of an axis pools inputs
    floor(i·n/m) … ceil((i+1)·n/m) − 1 (torch's rule), so windows differ in size and may
    overlap; summed over every unit (7 -> 4: windows of 2, 3, 3, 2)."""
    leading = math.prod(out_shape[:1])  # channels
    per_axis = [
        sum(math.ceil((i + 1) * n / m) - math.floor(i * n / m) for i in range(m))
        for n, m in zip(in_shape[1:], out_shape[1:])
    ]
    return leading * math.prod(per_axis)


@runtime_checkable
class CountsConnections(Protocol):
    """A layer that counts its own connections (lenet5-1998's C3, whose maps see only some inputs)."""

    def cnnlab_connections(self, output_shape: tuple[int, ...]) -> int: ...


def module_connections(
    module: nn.Module, kind: str, in_shape: tuple[int, ...], out_shape: tuple[int, ...], macs: int, count_bias: bool
) -> int:
    """The lecture's connections of one call of a layer module, per example (shapes without batch)."""
    units = math.prod(out_shape)
    if isinstance(module, CountsConnections):  # a layer that knows better (C3's partial table)
        n = module.cnnlab_connections(out_shape)
        return n if count_bias else n - units
    has_bias = getattr(module, "bias", None) is not None
    if kind in ("conv", "conv (partial)", "fully connected", "locally connected"):
        return macs + (units if has_bias and count_bias else 0)
    if kind == "subsampling":  # the paper's S layers: 4 inputs (+ the bias) per unit
        return units * (4 + (1 if count_bias else 0))
    if kind == "pooling":
        if isinstance(module, ADAPTIVE_MODULES):
            return adaptive_connections(in_shape, out_shape)
        return units * pool_window(module, in_shape, out_shape)
    if kind == "RBF":
        assert isinstance(module, RBFOutput), type(module)
        return module.centres.numel()
    return macs


def op_connections(kind: str, in_shape, out_shape, macs: int, has_bias: bool, window: int, count_bias: bool) -> int:
    """Connections of a functional layer op (no module of its own), per example."""
    units = math.prod(out_shape)
    if kind == "pooling":
        return units * window if window else adaptive_connections(in_shape, out_shape)
    return macs + (units if has_bias and count_bias else 0)
