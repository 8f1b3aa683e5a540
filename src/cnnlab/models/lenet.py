"""LeNet-5 as the lecture's size table describes it (LeCun et al. 1998, modernized).

    C1  conv 6@5×5, pad 2    28×28×1 -> 28×28×6     (the paper pads the digit to 32×32)
    S2  pool 2×2             -> 14×14×6
    C3  conv 16@5×5          -> 10×10×16            (all 6 maps feed every C3 map)
    S4  pool 2×2             -> 5×5×16
    F5  fully connected      400 -> 120
    F6  fully connected      120 -> 84
    output                   84 -> 10

Departures from 1998, on purpose: ReLU instead of the scaled tanh, max-pooling instead of
trainable subsampling, C3 fully connected to S2 and a plain linear output instead of RBF
units. ``lenet5-1998`` (issue 4) is the faithful one. Layers keep the lecture's names so
``cnnlab size`` and ``cnnlab viz`` can point at them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab.conv.shapes import conv_output_size

ACTIVATIONS = {"relu": F.relu, "tanh": torch.tanh, "gelu": F.gelu}


class LeNet5(nn.Module):
    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: tuple[int, int] = (28, 28),
        activation: str = "relu",
        pool: str = "max",
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if pool not in ("max", "avg"):
            raise ValueError(f"pool must be 'max' or 'avg', got {pool!r}")
        self.activation = activation
        Pool = nn.MaxPool2d if pool == "max" else nn.AvgPool2d
        h, w = input_size
        pad = 2 if (h, w) == (28, 28) else 0  # 28×28 MNIST padded to the paper's 32×32
        self.C1 = nn.Conv2d(in_channels, 6, kernel_size=5, padding=pad)
        self.S2 = Pool(2)
        self.C3 = nn.Conv2d(6, 16, kernel_size=5)
        self.S4 = Pool(2)
        h4, w4 = (  # spatial size after S4: C1, S2, C3, S4
            conv_output_size(conv_output_size(conv_output_size(conv_output_size(n, 5, 1, pad), 2, 2), 5), 2, 2)
            for n in (h, w)
        )
        self.F5 = nn.Linear(16 * h4 * w4, 120)
        self.F6 = nn.Linear(120, 84)
        self.output = nn.Linear(84, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        act = ACTIVATIONS[self.activation]
        x = self.S2(act(self.C1(x)))  # (N, 6, 14, 14)
        x = self.S4(act(self.C3(x)))  # (N, 16, 5, 5)
        x = x.flatten(1)  # (N, 400)
        x = act(self.F5(x))  # (N, 120)
        x = act(self.F6(x))  # (N, 84)
        return self.output(x)  # (N, num_classes)
