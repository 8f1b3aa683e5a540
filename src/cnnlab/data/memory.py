"""A whole image dataset held in memory as uint8 tensors and normalized batch by batch.

MNIST is 47 MB as uint8; kept on the training device, a batch is one index-select plus one
fused normalize, with no DataLoader, worker processes or host-device copies per step
(the cifar10-airbench habit).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor


@functools.cache
def _affine(mean: tuple[float, ...], std: tuple[float, ...], device: torch.device) -> tuple[Tensor, Tensor]:
    """(1 / (255 std), -mean / std), each (1, C, 1, 1) on ``device``: made once, not per batch
    (a per-batch torch.tensor(...) on a GPU is a host-to-device copy every step)."""
    scale = torch.tensor([1.0 / (255.0 * s) for s in std], device=device).view(1, -1, 1, 1)
    shift = torch.tensor([-m / s for m, s in zip(mean, std)], device=device).view(1, -1, 1, 1)
    return scale, shift


def normalize_uint8(x: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """uint8 (N, C, H, W) -> float32, (x/255 - mean) / std per channel, in one multiply-add."""
    scale, shift = _affine(tuple(mean), tuple(std), x.device)
    return torch.addcmul(shift, x.float(), scale)


def resize_batch(x: Tensor, size: tuple[int, int]) -> Tensor:
    """(N, C, H, W) float -> (N, C, *size), bilinear: what ``--resize`` does to every batch."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


@dataclass(frozen=True)
class ImageTensors:
    images: Tensor  # (N, C, H, W) uint8
    labels: Tensor  # (N,) int64
    mean: tuple[float, ...]  # per channel, in [0, 1] pixel units
    std: tuple[float, ...]  # per channel, in [0, 1] pixel units
    classes: tuple[str, ...]  # class names, indexed by label
    name: str = ""  # dataset name, e.g. "mnist"
    resize: int = 0  # resize every batch to resize×resize on the fly (0: keep); --resize
    rgb: bool = False  # repeat a single channel three times (gray digits into an RGB model)

    def __post_init__(self) -> None:
        assert self.images.dtype == torch.uint8 and self.images.ndim == 4, (self.images.dtype, self.images.shape)
        assert self.labels.shape == (self.images.shape[0],), (self.labels.shape, self.images.shape)
        assert len(self.mean) == len(self.std) == self.images.shape[1], (self.mean, self.std, self.images.shape)

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image as the batches deliver it (after any resize)."""
        c, h, w = self.images.shape[1:]
        c = 3 if self.rgb else c
        return (c, self.resize, self.resize) if self.resize else (c, h, w)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def device(self) -> torch.device:
        return self.images.device

    def to(self, device: torch.device | str) -> ImageTensors:
        return replace(self, images=self.images.to(device), labels=self.labels.to(device))

    def subset(self, index: Tensor | slice) -> ImageTensors:
        return replace(self, images=self.images[index], labels=self.labels[index])

    def normalize(self, x: Tensor) -> Tensor:
        """uint8 (N, C, H, W) -> float32, (x/255 - mean) / std per channel."""
        return normalize_uint8(x, self.mean, self.std)

    def prepare(self, x: Tensor) -> Tensor:
        """uint8 (N, C, H, W) as stored -> the float32 batch the model receives (normalized,
        resized, gray repeated to RGB), exactly as :meth:`batches` makes it."""
        x = self.normalize(x)  # (N, C, H, W) float32
        if self.resize:
            x = resize_batch(x, (self.resize, self.resize))
        if self.rgb:
            x = x.expand(-1, 3, -1, -1)
        return x

    def pixels(self, index: int) -> Tensor:
        """Image ``index`` in [0, 1], (C, H, W) at the size the model sees (for pictures)."""
        x = self.images[index : index + 1].float() / 255  # (1, C, H, W)
        if self.resize:
            x = resize_batch(x, (self.resize, self.resize)).clamp(0, 1)
        return x[0].expand(3, -1, -1) if self.rgb else x[0]

    def batches(
        self,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        augment: Callable[[Tensor, torch.Generator | None], Tensor] | None = None,
        memory_format: torch.memory_format = torch.contiguous_format,
        start: int = 0,
        order: Tensor | None = None,
        shard: tuple[int, int] = (0, 1),
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield normalized (x (B, C, H, W) float32, y (B,) int64) batches, the last one short.

        ``shuffle`` draws a permutation from ``generator`` (a CPU generator, so seeded runs
        are the same on every device), unless ``order`` gives it; ``augment`` maps a uint8
        batch to a uint8 batch; ``start`` skips the first batches (to resume mid-epoch);
        ``shard=(rank, world)`` keeps this process's share of every global batch (DDP).
        """
        n = len(self)
        rank, world = shard
        if order is None and shuffle:
            order = torch.randperm(n, generator=generator)
        order = order.to(self.device) if order is not None else None
        for i in range(start * batch_size, n, batch_size):
            idx = (
                order[i : i + batch_size]
                if order is not None
                else torch.arange(i, min(i + batch_size, n), device=self.device)
            )
            if world > 1:
                idx = idx[rank::world]  # this process's share of the global batch
            x = self.images[idx]  # (B, C, H, W) uint8
            if augment is not None:
                x = augment(x, generator)
            x = self.prepare(x)  # (B, C', H', W') float32
            yield x.contiguous(memory_format=memory_format), self.labels[idx]

    def num_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)
