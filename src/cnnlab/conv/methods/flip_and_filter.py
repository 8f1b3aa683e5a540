"""Method 2, flip-and-filter: flip the kernel, slide it along the signal, take dot products.

    (a ∗ b)_t = Σ_j a_{t−j} b_j = Σ_u a_{t−K+1+u} · flip(b)_u

Sliding a filter and taking dot products is what deep-learning libraries call a
convolution layer (``F.conv1d`` / ``F.conv2d`` compute cross-correlation); flipping the
kernel first makes it a true convolution. ``numpy.convolve`` does exactly this in C.

The signal is zero-padded, so the slid kernel meets those zeros: a NaN or inf in the kernel
would turn them into NaN. The finite one of the two is slid (convolution commutes), and
``convolve`` refuses the case where neither is finite.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnlab.conv.regions import Region, output_shape
from cnnlab.conv.registry import Method, Shape, register


def pad_for_region(a: Tensor, kernel_shape: tuple[int, ...], region: Region) -> Tensor:
    """Pad (or crop, with negative padding) the trailing dimensions of ``a`` so that sliding a
    kernel of ``kernel_shape`` over them gives exactly the outputs in ``region`` (full-output
    coordinates). Output t reads inputs t−K+1 … t, so the first window must start at ``start``."""
    pads: list[int] = []
    spatial = a.shape[a.ndim - len(region) :]
    for (start, stop), m, k in reversed(list(zip(region, spatial, kernel_shape))):  # F.pad wants the last dim first
        pads += [k - 1 - start, stop - m]
    return F.pad(a, pads)


def signal_and_kernel(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """(the one to pad, the one to slide): the smaller is slid, unless it is the one holding
    NaN or inf (0 · inf in the padding would be NaN)."""
    big, small = (b, a) if b.numel() > a.numel() else (a, b)
    if small.is_floating_point() and not bool(torch.isfinite(small).all()):
        return small, big
    return big, small


def flip_and_filter(a: Tensor, b: Tensor, region: Region) -> Tensor:
    a, b = signal_and_kernel(a, b)  # convolution commutes
    kernel = b.flip(tuple(range(b.ndim)))  # flip ...
    x = pad_for_region(a, tuple(b.shape), region)
    conv = F.conv1d if a.ndim == 1 else F.conv2d
    return conv(x[None, None], kernel[None, None])[0, 0]  # ... and filter: (out...) dot products


def batch(x: Tensor, k: Tensor, r: Region) -> Tensor:
    """(N, C, H, W) images; kernel (kh, kw), (C, kh, kw) or (O, C, kh, kw)."""
    c = x.shape[1]
    w = k.flip((-2, -1))
    if k.ndim == 2:
        w, groups = w.expand(c, 1, *k.shape), c  # (C, 1, kh, kw)
    elif k.ndim == 3:
        w, groups = w[:, None], c  # (C, 1, kh, kw)
    else:
        groups = 1  # (O, C, kh, kw)
    return F.conv2d(pad_for_region(x, tuple(k.shape[-2:]), r), w, groups=groups)  # (N, C or O, H', W')


def work(shape_a: Shape, shape_b: Shape, mode: str) -> list[float]:
    """A sliding dot product per output: 1, out·nk, out."""
    nk = min(math.prod(shape_a), math.prod(shape_b))
    out = math.prod(output_shape(shape_a, shape_b, mode))
    return [1.0, out * nk, out]


register(Method("flip_and_filter", 2, flip_and_filter, work, int64_devices=("cpu",), zero_padded=True, batch=batch))
