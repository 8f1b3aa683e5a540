"""Small named blocks the models are built from."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

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


def conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return conv_output_size(size, kernel, stride, padding)
