"""Small modern nets for MNIST-sized inputs: one for speed, one for accuracy.

``mnist-fast``: two strided convolutions and no pooling layers at all (max-pooling is
among the slowest ops of a small net on a CPU; see the issue #4 note). Measured on a 2-core
CPU: 99.17-99.22% after 2 epochs, 6.8 s of training (3 seeds).

``mnist-race``: mnist-fast's layers at 2/3 width (16 and 32 filters), with batch norm after each
conv, on the centre 20×20 of each digit (``CentreCrop``), under a third of mnist-fast's
arithmetic; the net of the time-to-99% race (issue 19). Crop and batch norm were chosen on a
held-out 10k of the training set (benchmarks/results/mnist_race_heldout.json): the crop scored no
worse than the whole 28×28 image (seed 0, 2 epochs: 99.10% against 98.97%), and with batch norm
every one of 5 seeds reached 98.9% at 1.25 epochs and 99.0% by 1.75 (without it, 3 and 2 of 5).
Race figures: ``benchmarks/mnist_speed.py``.

``mnist-best``: five 3×3 conv-BN-ReLU blocks (two of them strided), global average
pooling, one linear layer; trained with random ±2-pixel shifts, label smoothing and weight
decay. Figures: ``benchmarks/mnist_models.py``.

``fashion-best``: the same five blocks with a flattening head: the linear layer sees every
one of the 7×7 positions instead of their average, so it knows *where* a feature is (a
sleeve's length, a collar, a heel). For MNIST this does not matter; for Fashion-MNIST it
was worth 0.9 points after 8 epochs (92.86% against 91.99%, same recipe, same time).
"""

from __future__ import annotations

from torch import Tensor, nn

from cnnlab.models.blocks import ConvBNReLU, FlattenLinear, conv_out


class CentreCrop(nn.Module):
    """Keep the centre ``size``×``size`` of every image (the whole image where it is smaller).

    Part of the model, so training and test images, ``cnnlab predict`` and ``cnnlab viz``
    all see the same crop. MNIST's digits sit in a 20×20 box centred by their centre of mass
    in the 28×28 frame; the centre 20×20 keeps 96.7% of the training set's ink (24×24:
    99.8%; measured over all 60,000 images, issue 19).
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        # torchvision's center_crop rounding: an odd margin puts the extra row at the top (round half to even)
        top, left = (max(0, int(round((s - self.size) / 2.0))) for s in (h, w))
        return x[..., top : top + self.size, left : left + self.size]  # (N, C, min(H, size), min(W, size))

    def extra_repr(self) -> str:
        return f"size={self.size}"


class MnistFast(nn.Module):
    """``width``: conv1's filters (conv2 has twice as many); ``crop``: first keep the centre
    crop×crop of the image (0: the whole image); ``batch_norm``: batch norm (``bn1``, ``bn2``)
    between each conv and its ReLU; ``hidden``: the FC layer's units. ``mnist-race`` crops
    28×28 digits to 20×20 (half the arithmetic of every layer) at width 16, with batch norm."""

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: tuple[int, int] = (28, 28),
        width: int = 24,
        crop: int = 0,
        batch_norm: bool = False,
        hidden: int = 128,
    ) -> None:
        super().__init__()
        # no layer at all without a crop or batch norm: mnist-fast's layers (and `cnnlab viz --layer`
        # names) stay as they were
        self.crop = CentreCrop(crop) if crop else None
        w = width
        # with batch norm the convs have no bias: the BN shift replaces it
        self.conv1 = nn.Conv2d(in_channels, w, 5, stride=2, padding=2, bias=not batch_norm)
        self.bn1 = nn.BatchNorm2d(w) if batch_norm else None
        self.conv2 = nn.Conv2d(w, 2 * w, 3, stride=2, padding=1, bias=not batch_norm)
        self.bn2 = nn.BatchNorm2d(2 * w) if batch_norm else None
        sizes = [min(s, crop) if crop else s for s in input_size]
        h, v = (conv_out(conv_out(s, 5, 2, 2), 3, 2, 1) for s in sizes)
        self.fc = FlattenLinear(2 * w * h * v, hidden)  # flattens (N, 2w, h, v) itself
        self.output = nn.Linear(hidden, num_classes)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        if self.crop is not None:
            x = self.crop(x)  # (N, C, crop, crop)
        x = self.conv1(x)  # (N, w, 14, 14); crop 20: (N, w, 10, 10)
        x = self.relu(x if self.bn1 is None else self.bn1(x))
        x = self.conv2(x)  # (N, 2w, 7, 7); crop 20: (N, 2w, 5, 5)
        x = self.relu(x if self.bn2 is None else self.bn2(x))
        x = self.relu(self.fc(x))  # (N, hidden)
        return self.output(x)  # (N, num_classes)


class MnistBest(nn.Module):
    """``head="gap"``: global average pool → linear; ``head="flatten"``: the whole last feature
    map → linear (``fashion-best``)."""

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: tuple[int, int] = (28, 28),
        width: int = 32,
        head: str = "gap",
    ) -> None:
        super().__init__()
        assert head in ("gap", "flatten"), f"head must be gap or flatten, got {head!r}"
        w = width
        self.block1 = ConvBNReLU(in_channels, w)
        self.block2 = ConvBNReLU(w, w, stride=2)
        self.block3 = ConvBNReLU(w, 2 * w)
        self.block4 = ConvBNReLU(2 * w, 2 * w, stride=2)
        self.block5 = ConvBNReLU(2 * w, 4 * w)
        if head == "gap":
            self.pool = nn.AdaptiveAvgPool2d(1)
            features = 4 * w
        else:
            self.pool = nn.Identity()
            h, v = (conv_out(conv_out(s, 3, 2, 1), 3, 2, 1) for s in input_size)
            features = 4 * w * h * v
        self.output = nn.Linear(features, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.block2(self.block1(x))  # (N, w, 14, 14)
        x = self.block4(self.block3(x))  # (N, 2w, 7, 7)
        x = self.pool(self.block5(x))  # gap: (N, 4w, 1, 1); flatten: (N, 4w, 7, 7)
        return self.output(x.flatten(1))  # (N, num_classes)
