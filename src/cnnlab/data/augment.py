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


def with_erasing(
    first: Augment, p: float = 0.5, area: tuple[float, float] = (0.02, 0.33), ratio: tuple[float, float] = (0.3, 3.3)
) -> Augment:
    """``first``, then random erasing (Zhong et al. 2017): with probability ``p`` an image gets
    one rectangle of random noise, covering ``area`` of the image with aspect ``ratio`` (the
    paper's defaults). Every image draws its own rectangle in one batched pass;
    ``torchvision.transforms.v2.RandomErasing`` would erase the same one across a batch."""
    lo, hi = torch.log(torch.tensor(ratio, dtype=torch.float64))

    def erase(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        x = first(x, generator)
        b, c, h, w = x.shape
        u = torch.rand(5, b, generator=generator, dtype=torch.float64)  # (5, B)
        size = (area[0] + (area[1] - area[0]) * u[0]) * h * w  # (B,) erased pixels
        aspect = torch.exp(lo + (hi - lo) * u[1])  # (B,) height / width
        eh = torch.sqrt(size * aspect).round().clamp(1, h).long()  # (B,)
        ew = torch.sqrt(size / aspect).round().clamp(1, w).long()  # (B,)
        top = (u[2] * (h - eh + 1)).long()  # (B,)
        left = (u[3] * (w - ew + 1)).long()  # (B,)
        box = torch.stack([top, top + eh, left, left + ew, (u[4] < p).long()]).to(x.device)  # (5, B)
        rows = torch.arange(h, device=x.device)[None, :]  # (1, H)
        cols = torch.arange(w, device=x.device)[None, :]  # (1, W)
        inside_rows = (rows >= box[0, :, None]) & (rows < box[1, :, None])  # (B, H)
        inside_cols = (cols >= box[2, :, None]) & (cols < box[3, :, None])  # (B, W)
        mask = inside_rows[:, None, :, None] & inside_cols[:, None, None, :] & box[4, :, None, None, None].bool()
        noise = torch.randint(0, 256, x.shape, generator=generator, dtype=torch.uint8)  # (B, C, H, W)
        return torch.where(mask, noise.to(x.device), x)

    return erase


def affine_batch(x: Tensor, degrees: Tensor, scale: Tensor, shift: Tensor) -> Tensor:
    """Rotate image i of ``x`` (B, C, H, W, float) by ``degrees[i]`` (clockwise as displayed,
    rows down) and scale it by ``scale[i]`` about the image centre, then translate it by
    ``shift[i]`` = (dx, dy) pixels; bilinear, zero outside the image (scipy.ndimage's
    ``affine_transform(order=1, mode="grid-constant")``). Returns (B, C, H, W)."""
    b, c, h, w = x.shape
    angle = torch.deg2rad(degrees.double())  # (B,)
    # affine_grid maps each output point (normalized to [-1, 1]) to the input point it samples:
    # the inverse transform, in (x, y) order
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale  # (B,)
    inverse = torch.stack([torch.stack([cos, sin], 1), torch.stack([-sin, cos], 1)], 1)  # (B, 2, 2) in pixels
    to_grid = torch.tensor([2.0 / w, 2.0 / h], dtype=torch.float64)  # pixels -> grid units, per axis
    inverse = inverse * to_grid[:, None] / to_grid[None, :]  # (B, 2, 2) in grid units (H ≠ W included)
    theta = torch.cat([inverse, -(inverse @ (shift.double() * to_grid)[:, :, None])], 2)  # (B, 2, 3)
    grid = F.affine_grid(theta.to(x.device, x.dtype), [b, c, h, w], align_corners=False)  # (B, H, W, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_affine(degrees: float = 10.0, scale: tuple[float, float] = (0.9, 1.1), max_shift: float = 2.0) -> Augment:
    """Rotate each image by its own random angle in [-degrees, degrees], scale it by a random
    factor in ``scale`` and translate it by up to ``max_shift`` pixels each way
    (:func:`affine_batch`): the slant, size and position of handwriting, which a digit
    classifier should not care about (Simard et al. 2003 trained on such distortions). Every
    image draws its own transform in one batched pass; torchvision's ``RandomAffine`` applies
    one transform to a whole batch."""

    def affine(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        u = torch.rand(4, x.shape[0], generator=generator, dtype=torch.float64) * 2 - 1  # (4, B) in [-1, 1)
        zoom = (scale[0] + scale[1]) / 2 + u[1] * (scale[1] - scale[0]) / 2  # (B,)
        out = affine_batch(x.float(), u[0] * degrees, zoom, u[2:].T * max_shift)  # (B, C, H, W)
        return out.round_().clamp_(0, 255).to(torch.uint8)

    return affine


AUGMENTS: dict[str, Callable[[], Augment | None]] = {
    "none": lambda: None,
    "shift": lambda: random_shift(2),
    "shift1": lambda: random_shift(1),
    "shift3": lambda: random_shift(3),
    "shift+flip": lambda: with_flips(random_shift(2)),
    "flip": lambda: with_flips(lambda x, generator=None: x),
    "shift+flip+erase": lambda: with_erasing(with_flips(random_shift(2))),
    "flip+erase": lambda: with_erasing(with_flips(lambda x, generator=None: x)),
    "affine": lambda: random_affine(),
}


def get_augment(name: str) -> Augment | None:
    if name not in AUGMENTS:
        raise CnnlabError(f"unknown augmentation {name!r}; choose one of: {', '.join(AUGMENTS)}")
    return AUGMENTS[name]()
