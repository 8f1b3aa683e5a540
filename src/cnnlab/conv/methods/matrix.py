"""Convolution as a matrix multiplication (lecture 9):

    (2, −1, 1) ∗ (1, 1, 2) = [[1, 0, 0],      [ 2]
                              [1, 1, 0],   ×  [−1]
                              [2, 1, 1],      [ 1]
                              [0, 2, 1],
                              [0, 0, 2]]

The matrix has the kernel down its diagonals (Toeplitz); in 2-D it is doubly block
Toeplitz: a Toeplitz matrix of Toeplitz blocks, one block per pair of image rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.sparse
import torch
from torch import Tensor

from cnnlab.conv.methods.flip_and_filter import work as direct_work
from cnnlab.conv.operands import as_tensor, check_inputs
from cnnlab.conv.regions import Region
from cnnlab.conv.regions import region as mode_region
from cnnlab.conv.registry import Method, register
from cnnlab.errors import CnnlabError

MAX_DENSE = 1 << 26  # entries; a larger dense matrix is refused (use sparse=True)


def _entries(b: Tensor, input_shape: tuple[int, ...], r: Region) -> tuple[Tensor, Tensor, Tensor, tuple[int, int]]:
    """(rows, cols, values, (n_out, n_in)) of the convolution matrix, nonzeros only."""
    device = b.device
    p = torch.stack(torch.meshgrid(*(torch.arange(m, device=device) for m in input_shape), indexing="ij"), -1).reshape(
        -1, len(input_shape)
    )  # (n_in, d)
    q = torch.stack(torch.meshgrid(*(torch.arange(k, device=device) for k in b.shape), indexing="ij"), -1).reshape(
        -1, b.ndim
    )  # (n_k, d)
    o = p[:, None, :] + q[None, :, :]  # (n_in, n_k, d): output position fed by input p through tap q
    start = torch.tensor([s for s, _ in r], device=device)
    out_shape = torch.tensor([e - s for s, e in r], device=device)
    o = o - start
    inside = ((o >= 0) & (o < out_shape)).all(-1)  # (n_in, n_k)
    strides_out = torch.tensor([math.prod(out_shape.tolist()[i + 1 :]) for i in range(len(r))], device=device)
    strides_in = torch.tensor([math.prod(input_shape[i + 1 :]) for i in range(len(input_shape))], device=device)
    rows = (o * strides_out).sum(-1)[inside]
    cols = (p * strides_in).sum(-1)[:, None].expand_as(inside)[inside]
    taps = torch.arange(q.shape[0], device=device)[None, :].expand_as(inside)[inside]
    values = b.reshape(-1)[taps]
    return rows, cols, values, (math.prod(out_shape.tolist()), math.prod(input_shape))


def _check_shape(input_shape) -> tuple[int, ...]:
    shape = (input_shape,) if isinstance(input_shape, (int, np.integer)) else tuple(np.atleast_1d(input_shape))
    if not shape or any(
        isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1 for n in shape
    ):
        raise CnnlabError(
            f"input_shape must be a positive int or a tuple of positive ints (the shape of a), got {input_shape!r}"
        )
    return tuple(int(n) for n in shape)


def conv_matrix(b, input_shape: int | Sequence[int], mode: str = "full", sparse: bool = False):
    """The matrix ``T`` with ``T @ a.ravel() == convolve(a, b, mode).ravel()`` for every ``a`` of
    ``input_shape``: Toeplitz in 1-D, doubly block Toeplitz in 2-D.

    numpy (or a list) in gives a numpy array (``sparse=True``: a ``scipy.sparse.csr_array``);
    a torch tensor gives a torch tensor on its device (``sparse=True``: sparse COO).

    >>> conv_matrix([1, 1, 2], 3)        # the lecture's slide
    array([[1, 0, 0],
           [1, 1, 0],
           [2, 1, 1],
           [0, 2, 1],
           [0, 0, 2]])
    """
    is_torch = isinstance(b, Tensor)
    bt = as_tensor(b)
    input_shape = _check_shape(input_shape)
    check_inputs(torch.empty(input_shape, dtype=bt.dtype), bt, mode)
    r = mode_region(input_shape, tuple(bt.shape), mode)
    size = (math.prod(stop - start for start, stop in r), math.prod(input_shape))
    if not sparse and size[0] * size[1] > MAX_DENSE:  # refuse before building anything
        nonzeros = math.prod(input_shape) * bt.numel()
        raise CnnlabError(
            f"the dense {size[0]}×{size[1]} convolution matrix would have {size[0] * size[1]:,} entries; "
            f"pass sparse=True (it has at most {nonzeros:,} nonzeros)"
        )
    rows, cols, values, size = _entries(bt, input_shape, r)
    if sparse:
        if is_torch:
            return torch.sparse_coo_tensor(torch.stack([rows, cols]), values, size, check_invariants=False).coalesce()
        return scipy.sparse.csr_array((values.numpy(), (rows.numpy(), cols.numpy())), shape=size)
    dense = torch.zeros(size, dtype=bt.dtype, device=bt.device).index_put((rows, cols), values)
    return dense if is_torch else dense.numpy()


MAX_BUILD_BYTES = 2 << 30  # building the entries takes ~64 bytes per (input, tap) pair


def fits(shape_a, shape_b, mode: str, itemsize: int) -> bool:
    return math.prod(shape_a) * math.prod(shape_b) * 64 <= MAX_BUILD_BYTES


def matrix(a: Tensor, b: Tensor, region: Region) -> Tensor:
    """Convolve by multiplying ``a`` with the (sparse) convolution matrix of ``b``."""
    if not fits(a.shape, b.shape, "full", a.element_size()):
        raise CnnlabError(
            f"method='matrix' would build {a.numel() * b.numel():,} matrix entries "
            f"(~{a.numel() * b.numel() * 64 / 2**30:.0f} GiB) for a {tuple(a.shape)} signal and a {tuple(b.shape)} kernel; "
            "use method='auto', 'fft' or 'flip_and_filter'"
        )
    rows, cols, values, size = _entries(b, tuple(a.shape), region)
    t = torch.sparse_coo_tensor(torch.stack([rows, cols]), values, size, check_invariants=False)
    out = torch.sparse.mm(t, a.reshape(-1, 1))  # (n_out, 1)
    return out.reshape(tuple(stop - start for start, stop in region))


register(Method("matrix", 3, matrix, direct_work, int64_devices=("cpu",), auto=False, fits=fits))
