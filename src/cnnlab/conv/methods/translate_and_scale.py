"""Method 1, translate-and-scale: a sum of shifted, scaled copies of one signal.

    (a ∗ b) = Σ_τ  b_τ · (a shifted by τ)

The lecture's picture: (2, −1, 1) ∗ (1, 1, 2) = 2·(1,1,2) + (−1)·(1,1,2 shifted by 1)
+ 1·(1,1,2 shifted by 2) = (2, 1, 4, −1, 2). One vectorized multiply-add over the signal
per entry of the smaller array. For small kernels on large images this is the fastest
direct method on a CPU. Done naively, each pass streams the whole image through memory, so
the signal is cut into blocks of about ``BLOCK_BYTES`` and all the shifted copies of one
block are added while it is still in cache (``python benchmarks/conv_blocking.py``, on
64×256×256 stacks on a shared 2-core CPU: 1.9-2.2× faster for 5×5 and 7×7 kernels in
float32 and 7×7 in float64, 1.1× for 5×5 float64, and 0.8× (slower) for 3×3;
benchmarks/results/conv_blocking.json).

Only plain multiply-adds of existing pairs, so integers stay integers (exact int64 on every
device) and a NaN or inf reaches exactly the outputs whose sum includes it.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from torch import Tensor

from cnnlab.conv.regions import Region, full_shape, slices
from cnnlab.conv.registry import Method, Shape, register
from cnnlab.errors import CnnlabError

BLOCK_BYTES = 1 << 20  # working set per block: about the size of a core's L2 cache


def add_shifted_copies(out: Tensor, x: Tensor, kernel: Tensor, differentiable: bool, skip_zeros: bool = False) -> None:
    """out[..., τ + i] += kernel[τ] · x[..., i] for every tap τ, over the trailing kernel.ndim dims.
    ``skip_zeros`` leaves out zero taps (only right when ``x`` is finite: 0 · inf is NaN)."""
    nd = kernel.ndim
    scales: list[float] = [] if differentiable else kernel.flatten().tolist()  # one host read, then plain numbers
    for n, tau in enumerate(itertools.product(*(range(k) for k in kernel.shape))):
        window = (..., *(slice(t, t + m) for t, m in zip(tau, x.shape[-nd:])))  # x shifted by τ
        if differentiable:
            out[window] += kernel[tau] * x
        elif not (skip_zeros and scales[n] == 0):
            out[window].add_(x, alpha=scales[n])  # one fused multiply-add, in place


def blocked(out: Tensor, x: Tensor, kernel: Tensor, differentiable: bool) -> None:
    """``add_shifted_copies`` over cache-sized blocks of the first spatial axis (or of the
    leading batch axis, when whole images are small)."""
    nd = kernel.ndim
    lead = x.ndim - nd  # batch-like axes in front of the spatial ones
    x_flat = x.reshape(-1, *x.shape[lead:]) if lead else x[None]  # (P, spatial...)
    out_flat = out.reshape(-1, *out.shape[lead:]) if lead else out[None]
    plane = x_flat[0].numel() * x.element_size()
    skip = not x.is_floating_point() or bool(torch.isfinite(x).all())
    if plane <= BLOCK_BYTES:  # groups of whole planes
        step = max(1, BLOCK_BYTES // plane)
        for p in range(0, x_flat.shape[0], step):
            add_shifted_copies(out_flat[p : p + step], x_flat[p : p + step], kernel, differentiable, skip)
        return
    rows = max(1, BLOCK_BYTES * x_flat.shape[1] // plane)  # blocks of the first spatial axis
    k0 = kernel.shape[0]
    for p in range(x_flat.shape[0]):
        for r in range(0, x_flat.shape[1], rows):
            block = x_flat[p, r : r + rows]
            add_shifted_copies(out_flat[p, r : r + block.shape[0] + k0 - 1], block, kernel, differentiable, skip)


def translate_and_scale(a: Tensor, b: Tensor, region: Region) -> Tensor:
    if b.numel() > a.numel():  # convolution commutes: loop over the smaller array
        a, b = b, a
    out = torch.zeros(full_shape(a.shape, b.shape), dtype=a.dtype, device=a.device)
    differentiable = torch.is_grad_enabled() and (a.requires_grad or b.requires_grad)
    if differentiable:
        add_shifted_copies(out, a, b, True)
    else:
        blocked(out, a, b, False)
    return out[slices(region)]


def batch(x: Tensor, k: Tensor, r: Region) -> Tensor:
    """(N, C, H, W) images, one (kh, kw) kernel for all channels or (C, kh, kw) one per channel."""
    if k.ndim == 4:
        raise CnnlabError(
            "translate_and_scale filters channel by channel; for (O, C, kh, kw) kernels use flip_and_filter or fft"
        )
    n, c, h, w = x.shape
    kh, kw = k.shape[-2:]
    out = x.new_zeros(n, c, h + kh - 1, w + kw - 1)  # (N, C, H + kh − 1, W + kw − 1): the full output
    grad = torch.is_grad_enabled() and (x.requires_grad or k.requires_grad)
    if k.ndim == 2:
        (add_shifted_copies if grad else blocked)(out, x, k, grad)
    else:  # one kernel per channel
        for ch in range(c):
            (add_shifted_copies if grad else blocked)(out[:, ch], x[:, ch], k[ch], grad)
    return out[(..., *slices(r))]


def work(shape_a: Shape, shape_b: Shape, mode: str) -> list[float]:
    """nk vectorized multiply-adds over the signal: 1, nk, nk·ns."""
    ns, nk = sorted((math.prod(shape_a), math.prod(shape_b)), reverse=True)
    return [1.0, nk, nk * ns]


register(
    Method(
        "translate_and_scale",
        1,
        translate_and_scale,
        work,
        int64_devices=None,
        batch=batch,
        batch_multichannel=False,
    )
)


def python_ints(a: np.ndarray, b: np.ndarray, region: Region) -> np.ndarray:
    """The same sum in Python integers (numpy object arrays): exact at any size, for outputs
    beyond int64 (a uint64 result can reach 2^64 − 1). One numpy pass per tap of the smaller."""
    if b.size > a.size:
        a, b = b, a
    a_obj, out = a.astype(object), np.zeros(full_shape(a.shape, b.shape), dtype=object)
    for tau in itertools.product(*(range(k) for k in b.shape)):
        tap = int(b[tau])
        if tap:
            out[tuple(slice(t, t + m) for t, m in zip(tau, a.shape))] += tap * a_obj
    return out[slices(region)]
