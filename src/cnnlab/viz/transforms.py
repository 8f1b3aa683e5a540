"""Transformation robustness (Olah et al. 2017): random small changes applied to the image at
every step, so the optimization cannot rely on high-frequency patterns that only work at one
exact pixel alignment. Each transform is a closure ``(images (B, C, H, W), generator) -> images``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

Transform = Callable[[Tensor, torch.Generator], Tensor]


def pad(width: int, value: float = 0.5) -> Transform:
    return lambda x, g: F.pad(x, (width,) * 4, value=value)


def jitter(d: int) -> Transform:
    """A random crop that removes up to ``d`` pixels from the image's sides."""

    def fn(x: Tensor, g: torch.Generator) -> Tensor:
        dy, dx = (int(v) for v in torch.randint(0, d + 1, (2,), generator=g))
        h, w = x.shape[-2:]
        return x[..., dy : h - d + dy, dx : w - d + dx]

    return fn


def random_scale(scales: Sequence[float]) -> Transform:
    def fn(x: Tensor, g: torch.Generator) -> Tensor:
        s = scales[int(torch.randint(0, len(scales), (1,), generator=g))]
        size = [max(1, round(v * s)) for v in x.shape[-2:]]
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

    return fn


def random_rotate(degrees: Sequence[float]) -> Transform:
    def fn(x: Tensor, g: torch.Generator) -> Tensor:
        a = math.radians(degrees[int(torch.randint(0, len(degrees), (1,), generator=g))])
        theta = torch.tensor(
            [[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]], device=x.device, dtype=x.dtype
        )
        grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, padding_mode="border", align_corners=False)

    return fn


def compose(transforms: Sequence[Transform]) -> Transform:
    def fn(x: Tensor, g: torch.Generator) -> Tensor:
        for t in transforms:
            x = t(x, g)
        return x

    return fn


def standard(size: int, small: bool = True) -> Transform:
    """Lucid's standard transforms, scaled to the image: at 224 px pad 12, jitter 8, scale
    0.9-1.1, rotate ±10°, jitter 4 (64 px and more). Small images (MNIST's 28 px, CIFAR's 32) get
    relatively stronger ones, pad 2, jitter size/7, scale 0.9-1.1, rotate ±15°, jitter size/14:
    on LeNet-5's class visualizations the image then has to hold the class's evidence wherever
    the digit lands, and it draws whole strokes (measured in benchmarks/viz_likeness.py: the
    class image is nearest its own class mean for 9 of 10 digits, against 4 of 10 with Lucid's
    transforms scaled down to 28 px)."""
    if small and size < 64:
        return compose(
            [
                pad(2),
                jitter(max(1, round(size / 7))),
                random_scale([0.9 + 0.02 * i for i in range(11)]),
                random_rotate(list(range(-15, 16))),
                jitter(max(1, round(size / 14))),
            ]
        )
    k = size / 224
    big = max(1, round(8 * k)), max(1, round(4 * k))
    return compose(
        [
            pad(max(2, round(12 * k))),
            jitter(big[0]),
            random_scale([1 + (i - 5) / (50 if size >= 64 else 100) for i in range(11)]),
            random_rotate(list(range(-10, 11)) if size >= 64 else list(range(-5, 6))),
            jitter(big[1]),
        ]
    )
