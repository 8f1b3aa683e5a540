"""Small modern nets for MNIST-sized inputs: one for speed, one for accuracy.

``mnist-fast``: two strided convolutions and no pooling layers at all (max-pooling is
among the slowest ops of a small net on a CPU; see the issue #4 note). Measured on a 2-core
CPU: 99.17-99.22% after 2 epochs, 6.8 s of training (3 seeds).

``mnist-best``: five 3×3 conv-BN-ReLU blocks (two of them strided), global average
pooling, one linear layer; trained with random ±2-pixel shifts, label smoothing and weight
decay. Figures: ``benchmarks/mnist_models.py``.
"""

from __future__ import annotations

from torch import Tensor, nn

from cnnlab.models.blocks import ConvBNReLU, conv_out


class MnistFast(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: tuple[int, int] = (28, 28)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 24, 5, stride=2, padding=2)
        self.conv2 = nn.Conv2d(24, 48, 3, stride=2, padding=1)
        h, w = (conv_out(conv_out(s, 5, 2, 2), 3, 2, 1) for s in input_size)
        self.fc = nn.Linear(48 * h * w, 128)
        self.output = nn.Linear(128, num_classes)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.conv1(x))  # (N, 24, 14, 14)
        x = self.relu(self.conv2(x))  # (N, 48, 7, 7)
        x = self.relu(self.fc(x.flatten(1)))  # (N, 128)
        return self.output(x)  # (N, num_classes)


class MnistBest(nn.Module):
    def __init__(
        self, num_classes: int = 10, in_channels: int = 1, input_size: tuple[int, int] = (28, 28), width: int = 32
    ) -> None:
        super().__init__()
        w = width
        self.block1 = ConvBNReLU(in_channels, w)
        self.block2 = ConvBNReLU(w, w, stride=2)
        self.block3 = ConvBNReLU(w, 2 * w)
        self.block4 = ConvBNReLU(2 * w, 2 * w, stride=2)
        self.block5 = ConvBNReLU(2 * w, 4 * w)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.output = nn.Linear(4 * w, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.block2(self.block1(x))  # (N, w, 14, 14)
        x = self.block4(self.block3(x))  # (N, 2w, 7, 7)
        x = self.pool(self.block5(x))  # (N, 4w, 1, 1)
        return self.output(x.flatten(1))  # (N, num_classes)
