"""Convolution by the Fourier transform, and overlap-add for a long signal with a short kernel.

Convolution theorem: F(a ∗ b) = F(a) · F(b). Zero-padding both to the full output size (and
up to a size the FFT handles fast) makes the circular convolution equal the linear one.
Cost O(n log n) whatever the kernel size, so it wins for large kernels.

Overlap-add cuts the long signal into blocks, convolves each block by FFT (all blocks in one
batched transform), and adds the overlapping block outputs back together (``F.fold`` sums
overlaps): FFTs of size ~ a few × the kernel instead of the whole signal.

Both round (integers are exact only where ``convolve`` can bound the error below ½) and a
single NaN or inf spreads over every output, so ``convolve`` refuses non-finite inputs here.
"""

from __future__ import annotations

import math

import scipy.fft
import torch
import torch.nn.functional as F
from torch import Tensor

from cnnlab.conv.regions import Region, full_shape, slices
from cnnlab.conv.registry import Method, Shape, register


def fast_len(n: int) -> int:
    """The next size >= ``n`` whose real FFT is fast (scipy's, whose stub allows None)."""
    size = scipy.fft.next_fast_len(n, real=True)
    assert size is not None, n
    return size


def fft(a: Tensor, b: Tensor, region: Region) -> Tensor:
    full = full_shape(a.shape, b.shape)
    size = [fast_len(n) for n in full]
    spectrum = torch.fft.rfftn(a, s=size) * torch.fft.rfftn(b, s=size)
    return torch.fft.irfftn(spectrum, s=size)[slices(region)]


def block_length(m: int, k: int) -> int:
    """FFT length per block along one axis: ~8× the kernel, but no longer than the whole signal."""
    whole = fast_len(m + k - 1)
    return min(whole, fast_len(max(8 * k, 16)))


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


# transform a few images at a time: 1.3-1.6× faster than one transform of the batch for
# 31×31 kernels, 0.8× for 64×256² with 15×15 (python benchmarks/conv_batch_chunks.py,
# benchmarks/results/conv_batch_chunks.json, a shared 2-core CPU)
FFT_CHUNK_BYTES = 4 << 20


def batch(x: Tensor, k: Tensor, r: Region) -> Tensor:
    """(N, C, H, W) images; kernel (kh, kw), (C, kh, kw) or (O, C, kh, kw); the kernel's
    transform is computed once, the images' a few at a time."""
    size = [fast_len(n) for n in full_shape(x.shape[-2:], k.shape[-2:])]
    K = torch.fft.rfft2(k, s=size)  # (..., Hf, Wf//2+1), computed once
    per_image = x[0].numel() // (x.shape[-2] * x.shape[-1]) * size[0] * size[1] * x.element_size()
    step = max(1, FFT_CHUNK_BYTES // per_image)
    outs = []
    for i in range(0, x.shape[0], step):
        X = torch.fft.rfft2(x[i : i + step], s=size)  # (n, C, Hf, Wf//2+1)
        Y = (X[:, None] * K[None]).sum(2) if k.ndim == 4 else X * K  # (n, O, ...) summed over C, or per channel
        outs.append(torch.fft.irfft2(Y, s=size)[(..., *slices(r))])
    return torch.cat(outs)


def fft_work(shape_a: Shape, shape_b: Shape, mode: str) -> list[float]:
    """Transforms of the padded size L: 1, L·log2 L, L."""
    size = math.prod(fast_len(n) for n in full_shape(shape_a, shape_b))
    return [1.0, size * math.log2(size + 1), size]


def overlap_add_work(shape_a: Shape, shape_b: Shape, mode: str) -> list[float]:
    """B blocks of FFT size Lb, then the overlap sum: 1, B·Lb·log2 Lb, full."""
    big, small = (shape_a, shape_b) if math.prod(shape_a) >= math.prod(shape_b) else (shape_b, shape_a)
    lens = [block_length(m, k) for m, k in zip(big, small)]
    blocks = math.prod(math.ceil(m / (L - k + 1)) for m, k, L in zip(big, small, lens))
    size = math.prod(lens)
    return [1.0, blocks * size * math.log2(size + 1), math.prod(full_shape(shape_a, shape_b))]


register(Method("fft", 5, fft, fft_work, int64_devices=(), spectral=True, batch=batch))
register(Method("overlap_add", 6, overlap_add, overlap_add_work, int64_devices=(), spectral=True))
