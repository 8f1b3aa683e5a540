"""Batch augmentations on uint8 image tensors, run on the data's device.

Each takes ``(x (B, C, H, W) uint8, generator)`` and returns a new uint8 batch of the same
shape, drawing its randomness from ``generator`` so seeded runs repeat.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnlab.errors import CnnlabError

Augment = Callable[[Tensor, "torch.Generator | None"], Tensor]


def random_shift(max_shift: int = 2) -> Augment:
    """Translate each image by its own random (dy, dx) in [-max_shift, max_shift], zero-filled.

    The digit moves, the frame stays: the lecture's translation variation in miniature.
    """

    def shift(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        b, c, h, w = x.shape
        k = max_shift
        padded = F.pad(x, (k, k, k, k))  # (B, C, H+2k, W+2k)
        offsets = torch.randint(0, 2 * k + 1, (2, b), generator=generator).to(x.device)
        rows = offsets[0, :, None] + torch.arange(h, device=x.device)  # (B, H)
        cols = offsets[1, :, None] + torch.arange(w, device=x.device)  # (B, W)
        batch = torch.arange(b, device=x.device)[:, None, None]
        out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
        return out.permute(0, 3, 1, 2)  # (B, C, H, W)

    return shift


def with_flips(first: Augment) -> Augment:
    """``first``, then a left-right mirror of a random half of the batch: for clothes and
    objects (Fashion-MNIST, CIFAR), never for digits."""

    def flip(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        x = first(x, generator)
        mirror = (torch.rand(x.shape[0], generator=generator) < 0.5).to(x.device)  # (B,)
        return torch.where(mirror[:, None, None, None], x.flip(3), x)

    return flip


AUGMENTS: dict[str, Callable[[], Augment | None]] = {
    "none": lambda: None,
    "shift": lambda: random_shift(2),
    "shift1": lambda: random_shift(1),
    "shift3": lambda: random_shift(3),
    "shift+flip": lambda: with_flips(random_shift(2)),
    "flip": lambda: with_flips(lambda x, generator=None: x),
}


def get_augment(name: str) -> Augment | None:
    if name not in AUGMENTS:
        raise CnnlabError(f"unknown augmentation {name!r}; choose one of: {', '.join(AUGMENTS)}")
    return AUGMENTS[name]()
