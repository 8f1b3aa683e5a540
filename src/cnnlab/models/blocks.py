"""Small named blocks the models are built from."""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab.conv.shapes import conv_output_size


class ConvBNReLU(nn.Sequential):
    """conv (no bias: the BN shift replaces it) → batch norm → ReLU; sub-layers named conv, bn, relu."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__(
            OrderedDict(
                conv=nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2, bias=False),
                bn=nn.BatchNorm2d(out_channels),
                relu=nn.ReLU(inplace=True),
            )
        )


class FlattenLinear(nn.Linear):
    """A fully connected layer over a whole feature map: ``x.flatten(1)`` then ``nn.Linear``.

    The weight's columns are in (C, H, W) order, as ``flatten`` lays out an NCHW map. A
    channels-last map is stored (H, W, C): flattening it in (C, H, W) order copies the batch,
    and the gradient that comes back is laid out NCHW, so the ReLU and batch norm below run
    their backward on mixed layouts. When the batch is larger than the weight (more images
    than outputs), this layer reads a channels-last map in its stored order against a permuted
    copy of the weight instead: the same products and sums, a copy of the weight instead of
    one of the batch (``benchmarks/race_step.py`` times both; the batch-size threshold is a rule
    of thumb, not a measured break-even). The sums run in another order: equal up to rounding.
    Weights and checkpoints are those of ``nn.Linear``.
    """

    def forward(self, x: Tensor) -> Tensor:
        channels_last = x.ndim == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
        # a misfit map goes the plain way, to nn.Linear's own error message
        if channels_last and x.shape[0] > self.out_features and math.prod(x.shape[1:]) == self.in_features:
            n, c, h, w = x.shape
            weight = self.weight.view(self.out_features, c, h, w).permute(0, 2, 3, 1).flatten(1)  # (out, H·W·C)
            return F.linear(x.permute(0, 2, 3, 1).flatten(1), weight, self.bias)  # (N, out): a view of x, no copy
        return super().forward(x.flatten(1))  # (N, out)


def conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return conv_output_size(size, kernel, stride, padding)
