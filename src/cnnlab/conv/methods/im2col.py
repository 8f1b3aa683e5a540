"""im2col + matrix multiply: copy every window of the signal into one row of a matrix,
then one GEMM with the flipped kernel computes all the dot products at once.

This is how most conv-net libraries ran convolution layers on GPUs (Chellapilla et al.
2006; Caffe): it trades memory (each input value is copied K×K times) for one large,
fast matrix multiply.
"""

from __future__ import annotations

import math

from torch import Tensor

from cnnlab.conv.methods.flip_and_filter import pad_for_region, signal_and_kernel
from cnnlab.conv.methods.flip_and_filter import work as direct_work
from cnnlab.conv.regions import Region, output_shape
from cnnlab.conv.registry import Method, Shape, register
from cnnlab.errors import CnnlabError

MAX_BYTES = 2 << 30  # refuse to build an im2col matrix larger than 2 GiB


def im2col(a: Tensor, b: Tensor, region: Region) -> Tensor:
    a, b = signal_and_kernel(a, b)
    out_shape = tuple(stop - start for start, stop in region)
    need = math.prod(out_shape) * b.numel() * a.element_size()
    if need > MAX_BYTES:
        raise CnnlabError(
            f"im2col would build a {math.prod(out_shape)}×{b.numel()} matrix ({need / 2**30:.1f} GiB); "
            "use method='fft', 'overlap_add' or 'auto'"
        )
    x = pad_for_region(a, tuple(b.shape), region)
    windows = x
    for dim, k in enumerate(b.shape):
        windows = windows.unfold(dim, k, 1)  # (out..., k...) a strided view, nothing copied yet
    cols = windows.reshape(math.prod(out_shape), b.numel())  # (positions, taps): the im2col matrix (a copy)
    kernel = b.flip(tuple(range(b.ndim))).reshape(-1)  # (taps,)
    return (cols @ kernel).reshape(out_shape)


def fits(shape_a: Shape, shape_b: Shape, mode: str, itemsize: int) -> bool:
    nk = min(math.prod(shape_a), math.prod(shape_b))
    return math.prod(output_shape(shape_a, shape_b, mode)) * nk * itemsize <= MAX_BYTES


register(Method("im2col", 4, im2col, direct_work, int64_devices=("cpu",), zero_padded=True, fits=fits))
