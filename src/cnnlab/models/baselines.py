"""Three nets with the same plan for the lecture's invariance argument (cnnlab experiment invariance):

    fc-baseline    flatten → FC 1024 → FC 128 → output                         (every weight its own)
    lc-baseline    LC 16@5×5 → pool → LC 32@5×5 → pool → FC 128 → output        (local, not shared)
    conv-baseline  conv 16@5×5 → pool → conv 32@5×5 → pool → FC 128 → output    (local and shared)

The locally connected and the conv net have the same units in every layer; they differ only
in weight sharing, so any difference between them is the lecture's argument measured.
"""

from __future__ import annotations

from torch import Tensor, nn

from cnnlab.nn import LocallyConnected2d


class FCBaseline(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: tuple[int, int] = (28, 28)) -> None:
        super().__init__()
        h, w = input_size
        self.fc1 = nn.Linear(in_channels * h * w, 1024)
        self.fc2 = nn.Linear(1024, 128)
        self.output = nn.Linear(128, num_classes)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.fc1(x.flatten(1)))  # (N, 1024)
        x = self.relu(self.fc2(x))  # (N, 128)
        return self.output(x)


class LocalBaseline(nn.Module):
    """``shared=True``: conv layers (the conv baseline); ``False``: locally connected layers."""

    def __init__(
        self, num_classes: int = 10, in_channels: int = 1, input_size: tuple[int, int] = (28, 28), shared: bool = True
    ) -> None:
        super().__init__()
        h, w = input_size
        if shared:
            self.layer1 = nn.Conv2d(in_channels, 16, 5, padding=2)
            self.layer2 = nn.Conv2d(16, 32, 5, padding=2)
        else:
            self.layer1 = LocallyConnected2d(in_channels, 16, (h, w), 5, padding=2)
            self.layer2 = LocallyConnected2d(16, 32, (h // 2, w // 2), 5, padding=2)
        self.pool1 = nn.MaxPool2d(2)
        self.pool2 = nn.MaxPool2d(2)
        self.fc = nn.Linear(32 * (h // 4) * (w // 4), 128)
        self.output = nn.Linear(128, num_classes)
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool1(self.relu(self.layer1(x)))  # (N, 16, H/2, W/2)
        x = self.pool2(self.relu(self.layer2(x)))  # (N, 32, H/4, W/4)
        x = self.relu(self.fc(x.flatten(1)))  # (N, 128)
        return self.output(x)
