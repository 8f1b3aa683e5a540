"""Method 2, flip-and-filter: flip the kernel, slide it along the signal, take dot products.

    (a ∗ b)_t = Σ_j a_{t−j} b_j = Σ_u a_{t−K+1+u} · flip(b)_u

Sliding a filter and taking dot products is what deep-learning libraries call a
convolution layer (``F.conv1d`` / ``F.conv2d`` compute cross-correlation); flipping the
kernel first makes it a true convolution. ``numpy.convolve`` does exactly this in C.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from cnnlab.conv.regions import Region


def pad_for_region(a: Tensor, kernel_shape: tuple[int, ...], region: Region) -> Tensor:
    """Pad (or crop, with negative padding) the trailing dimensions of ``a`` so that sliding a
    kernel of ``kernel_shape`` over them gives exactly the outputs in ``region`` (full-output
    coordinates). Output t reads inputs t−K+1 … t, so the first window must start at ``start``."""
    pads: list[int] = []
    spatial = a.shape[a.ndim - len(region) :]
    for (start, stop), m, k in reversed(list(zip(region, spatial, kernel_shape))):  # F.pad wants the last dim first
        pads += [k - 1 - start, stop - m]
    return F.pad(a, pads)


def flip_and_filter(a: Tensor, b: Tensor, region: Region) -> Tensor:
    if b.numel() > a.numel():  # commutes: slide the smaller one
        a, b = b, a
    kernel = b.flip(tuple(range(b.ndim)))  # flip ...
    x = pad_for_region(a, tuple(b.shape), region)
    conv = F.conv1d if a.ndim == 1 else F.conv2d
    return conv(x[None, None], kernel[None, None])[0, 0]  # ... and filter: (out...) dot products
