"""The locally connected layer (lecture 9): every output position has its own filter.

A convolution layer shares one K×K×I filter across all positions; a locally connected layer
keeps a separate one at each of the W'×H' output positions, so it has W'·H' times the
weights. The lecture's example: a 200×200 image, 40K hidden units, 10×10 filters:
40,000 × 100 = 4M parameters ("good when the input is registered, e.g. face recognition").
A conv layer is a locally connected layer whose filters are constrained to be equal; the
gradient of the shared filter is the sum of the per-position gradients (the lecture's
"backpropagation with weight constraints"; see docs/weight_sharing.md).

Computed as one gather of every input window into a (positions, N, I·kh·kw) matrix and one
batched matrix multiply (a separate GEMM per position), with no Python loop over positions;
CPU, GPU and autograd as any torch op. PyTorch has no such layer, and Keras 3 dropped its
own. Measured on a shared 2-core CPU (batch 128, forward + backward,
``python benchmarks/locally_connected_speed.py``): 77 ms for 16@5×5 filters on a 40×40
input and 321 ms for 32@5×5 on 20×20×16, against 239 ms and 1,646 ms for the textbook
``F.unfold`` + ``einsum`` (3.1× and 5.1×; benchmarks/results/locally_connected_speed.json).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab.conv.shapes import check_count, conv_output_size
from cnnlab.errors import CnnlabError

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")  # as nn.Conv2d's padding_mode


class _ContiguousGrad(torch.autograd.Function):
    """Identity forward; makes the incoming gradient contiguous in one copy. Without it the
    permuted gradient reaches ``bmm``'s backward, which then copies it one matrix at a time
    (4,812 small copies per step for a 20×20 layer: half the step's time)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        return x

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad.contiguous()


def _pair(name: str, v, least: int) -> tuple[int, int]:
    pair = (v, v) if isinstance(v, int) else tuple(v) if isinstance(v, (tuple, list)) else ()
    if len(pair) != 2 or any(isinstance(x, bool) or not isinstance(x, int) or x < least for x in pair):
        raise CnnlabError(f"{name} must be an integer of at least {least} or a pair of them, got {v!r}")
    first, second = pair
    return first, second


class LocallyConnected2d(nn.Module):
    """A separate ``kernel_size`` filter at every output position.

    Args:
        in_channels, out_channels: I and J.
        input_size: (H, W) of the input; the layer's weights depend on it.
        kernel_size, stride: as in ``nn.Conv2d``.
        padding: an int or (pad_h, pad_w) on both sides, ``"valid"`` (none) or ``"same"``
            (stride 1; output H×W, the extra row/column of an even kernel on the
            bottom/right, as in TensorFlow).
        bias: one bias per output unit (per position and channel), as Keras' layer had.
        padding_mode: what the padding holds, as in ``nn.Conv2d``: zeros, reflect,
            replicate or circular.

    Weight: (H'·W', J, I·kh·kw); bias: (J, H', W').

    >>> layer = LocallyConnected2d(1, 1, (200, 200), 10, padding="same", bias=False)
    >>> layer.weight.numel()                          # the lecture's example
    4000000
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        input_size: int | tuple[int, int],
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        bias: bool = True,
        padding_mode: str = "zeros",
    ) -> None:
        super().__init__()
        self.in_channels = check_count("in_channels", in_channels, 1)
        self.out_channels = check_count("out_channels", out_channels, 1)
        self.input_size = _pair("input_size", input_size, 1)
        self.kernel_size = _pair("kernel_size", kernel_size, 1)
        self.stride = _pair("stride", stride, 1)
        if padding_mode not in PADDING_MODES:
            raise CnnlabError(f"unknown padding_mode {padding_mode!r}; use one of: {', '.join(PADDING_MODES)}")
        self.padding_mode = padding_mode
        kh, kw = self.kernel_size
        if padding == "same":
            if self.stride != (1, 1):
                raise CnnlabError(f"padding='same' needs stride 1, got stride {stride}; give the padding as numbers")
            self.pads = ((kh - 1) // 2, kh // 2, (kw - 1) // 2, kw // 2)  # top, bottom, left, right
        elif padding == "valid":
            self.pads = (0, 0, 0, 0)
        elif isinstance(padding, str):
            raise CnnlabError(f"unknown padding {padding!r}; use 'same', 'valid', an int or (pad_h, pad_w)")
        else:
            ph, pw = _pair("padding", padding, 0)
            self.pads = (ph, ph, pw, pw)
        h, w = self.input_size
        self.output_size = (
            conv_output_size(h, kh, self.stride[0], self.pads[0:2]),
            conv_output_size(w, kw, self.stride[1], self.pads[2:4]),
        )
        positions = self.output_size[0] * self.output_size[1]
        fan_in = in_channels * kh * kw
        self.weight = nn.Parameter(torch.empty(positions, out_channels, fan_in))
        self.bias = nn.Parameter(torch.empty(out_channels, *self.output_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.shape[-1])  # nn.Conv2d's default scale, per position
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        built = (self.in_channels, *self.input_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != built:
            raise CnnlabError(
                f"LocallyConnected2d was built for (N, {built[0]}, {built[1]}, {built[2]}) input and got shape "
                f"{tuple(x.shape)}; add a batch axis with x[None] or build the layer for this input size"
            )
        n, c, h, w = x.shape
        top, bottom, left, right = self.pads
        (kh, kw), (sh, sw), (oh, ow) = self.kernel_size, self.stride, self.output_size
        mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
        x = F.pad(x, (left, right, top, bottom), mode=mode) if any(self.pads) else x
        windows = x.unfold(2, kh, sh).unfold(3, kw, sw)  # (N, I, H', W', kh, kw): a view, nothing copied
        cols = windows.permute(2, 3, 0, 1, 4, 5).reshape(oh * ow, n, c * kh * kw)  # (H'·W', N, I·kh·kw): one copy
        out = _ContiguousGrad.apply(
            torch.bmm(cols, self.weight.transpose(1, 2))
        )  # (H'·W', N, J): a filter per position
        out = out.permute(1, 2, 0).reshape(n, self.out_channels, oh, ow)  # (N, J, H', W')
        return out + self.bias if self.bias is not None else out

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, input_size: tuple[int, int]) -> LocallyConnected2d:
        """The locally connected layer holding ``conv``'s filter at every position (weight sharing undone)."""
        if conv.groups != 1 or conv.dilation != (1, 1):
            raise CnnlabError(
                f"from_conv needs a Conv2d with groups=1 and dilation=1, got groups={conv.groups}, "
                f"dilation={conv.dilation}"
            )
        layer = cls(
            conv.in_channels,
            conv.out_channels,
            input_size,
            _pair("kernel_size", conv.kernel_size, 1),
            _pair("stride", conv.stride, 1),
            conv.padding if isinstance(conv.padding, str) else _pair("padding", conv.padding, 0),
            conv.bias is not None,
            conv.padding_mode,
        )
        with torch.no_grad():
            layer.weight.copy_(conv.weight.reshape(conv.out_channels, -1).expand_as(layer.weight))
            if conv.bias is not None and layer.bias is not None:
                layer.bias.copy_(conv.bias.view(-1, 1, 1).expand_as(layer.bias))
        return layer

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, input_size={self.input_size}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, pads={self.pads}, output_size={self.output_size}, bias={self.bias is not None}, "
            f"padding_mode={self.padding_mode!r}"
        )
