"""Convolution by the Fourier transform, and overlap-add for a long signal with a short kernel.

Convolution theorem: F(a ∗ b) = F(a) · F(b). Zero-padding both to the full output size (and
up to a size the FFT handles fast) makes the circular convolution equal the linear one.
Cost O(n log n) whatever the kernel size, so it wins for large kernels.

Overlap-add cuts the long signal into blocks, convolves each block by FFT (all blocks in one
batched transform), and adds the overlapping block outputs back together (``F.fold`` sums
overlaps): FFTs of size ~ a few × the kernel instead of the whole signal.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from scipy.fft import next_fast_len
from torch import Tensor

from cnnlab.conv.regions import Region, full_shape, slices


def fft(a: Tensor, b: Tensor, region: Region) -> Tensor:
    full = full_shape(a.shape, b.shape)
    size = [next_fast_len(n, real=True) for n in full]
    spectrum = torch.fft.rfftn(a, s=size) * torch.fft.rfftn(b, s=size)
    return torch.fft.irfftn(spectrum, s=size)[slices(region)]


def block_length(m: int, k: int) -> int:
    """FFT length per block along one axis: ~8× the kernel, but no longer than the whole signal."""
    whole = next_fast_len(m + k - 1, real=True)
    return min(whole, next_fast_len(max(8 * k, 16), real=True))


def overlap_add(a: Tensor, b: Tensor, region: Region) -> Tensor:
    if b.numel() > a.numel():  # block the long one
        a, b = b, a
    ndim = a.ndim
    a2, b2 = (a[None], b[None]) if ndim == 1 else (a, b)  # 1-D as a 1×N image
    (m0, m1), (k0, k1) = a2.shape, b2.shape
    fft_len = (block_length(m0, k0), block_length(m1, k1))
    block = (fft_len[0] - k0 + 1, fft_len[1] - k1 + 1)  # input samples per block
    nb = (math.ceil(m0 / block[0]), math.ceil(m1 / block[1]))
    x = F.pad(a2, (0, nb[1] * block[1] - m1, 0, nb[0] * block[0] - m0))  # (nb0*B0, nb1*B1)
    x = x.reshape(nb[0], block[0], nb[1], block[1]).transpose(1, 2)  # (nb0, nb1, B0, B1)
    y = torch.fft.irfft2(
        torch.fft.rfft2(x, s=fft_len) * torch.fft.rfft2(b2, s=fft_len), s=fft_len
    )  # (nb0, nb1, L0, L1)
    cols = y.reshape(nb[0] * nb[1], fft_len[0] * fft_len[1]).T[None]  # (1, L0*L1, blocks), as F.fold wants
    out_size = ((nb[0] - 1) * block[0] + fft_len[0], (nb[1] - 1) * block[1] + fft_len[1])
    out = F.fold(cols, out_size, kernel_size=fft_len, stride=block)[0, 0]  # overlapping tails summed
    out = out[: m0 + k0 - 1, : m1 + k1 - 1]  # the full convolution
    return (out[0] if ndim == 1 else out)[slices(region)]
