"""Turning what the user passed into tensors, and checking it: shapes, dtypes, devices,
the result type, and how large integer outputs can get.

Shared by ``convolve``, ``conv_matrix`` and ``convolve_batch``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from cnnlab.conv.regions import check_mode, region
from cnnlab.errors import CnnlabError

INT64_MAX = (1 << 63) - 1
FLOAT64_EXACT = 1 << 53  # every integer up to this magnitude is a float64


def native(x) -> np.ndarray:
    """A C-contiguous numpy array in the machine's byte order (what ``torch.from_numpy`` takes)."""
    x = np.asarray(x)
    if x.dtype.kind == "O":
        raise CnnlabError(f"cannot convolve an array of Python objects (shape {x.shape}); pass numbers")
    if x.dtype.kind in "US":
        raise CnnlabError("cannot convolve strings; pass numbers")
    if x.dtype.kind == "c":
        raise CnnlabError("complex inputs are not supported; convolve the real and imaginary parts separately")
    if not x.dtype.isnative:
        x = x.astype(x.dtype.newbyteorder("="))
    return np.ascontiguousarray(x)


def as_tensor(x, device: torch.device | None = None) -> Tensor:
    """``x`` as a tensor (numpy arrays of any stride or byte order included)."""
    if isinstance(x, Tensor):
        return x
    t = torch.from_numpy(native(x))
    return t if device is None else t.to(device)


def to_tensors(a, b) -> tuple[Tensor, Tensor, bool]:
    """Both as tensors on one device; True if the result should be numpy."""
    a_t, b_t = isinstance(a, Tensor), isinstance(b, Tensor)
    if a_t and b_t and a.device != b.device:
        raise CnnlabError(f"a is on {a.device} and b on {b.device}; move both to one device")
    device = a.device if a_t else b.device if b_t else None
    return as_tensor(a, device), as_tensor(b, device), not (a_t or b_t)


def check_inputs(a: Tensor, b: Tensor, mode: str) -> None:
    """One clear error for each way the inputs can be wrong."""
    check_mode(mode)
    if a.ndim != b.ndim:
        raise CnnlabError(
            f"dimension mismatch: a is {a.ndim}-D {tuple(a.shape)} but b is {b.ndim}-D {tuple(b.shape)}; "
            "give both the same number of dimensions (for a stack of images use convolve_batch)"
        )
    if a.ndim not in (1, 2):
        raise CnnlabError(
            f"convolve takes 1-D or 2-D arrays, got {a.ndim}-D {tuple(a.shape)}; "
            "for a batch of (N, C, H, W) images use cnnlab.conv.convolve_batch"
        )
    if a.numel() == 0 or b.numel() == 0:
        raise CnnlabError(
            f"empty input: a has shape {tuple(a.shape)} and b has shape {tuple(b.shape)}; both need at least one element"
        )
    if a.is_complex() or b.is_complex():
        raise CnnlabError("complex inputs are not supported; convolve the real and imaginary parts separately")
    region(tuple(a.shape), tuple(b.shape), mode)  # validates 'valid' shapes


_NUMPY = {
    torch.bool: np.bool_,
    torch.uint8: np.uint8,
    torch.uint16: np.uint16,
    torch.uint32: np.uint32,
    torch.uint64: np.uint64,
    torch.int8: np.int8,
    torch.int16: np.int16,
    torch.int32: np.int32,
    torch.int64: np.int64,
    torch.float16: np.float16,
    torch.float32: np.float32,
    torch.float64: np.float64,
}
_TORCH = {np.dtype(v): k for k, v in _NUMPY.items()}


def numpy_dtype(dtype: torch.dtype) -> np.dtype:
    return np.dtype(_NUMPY[dtype])


def torch_dtype(dtype: np.dtype) -> torch.dtype:
    return _TORCH[np.dtype(dtype)]


def result_dtype(x: torch.dtype, y: torch.dtype) -> torch.dtype:
    """The result type: numpy's (and so scipy's) promotion rule for every input, torch or numpy
    (int32 with float32 gives float64, as scipy does), booleans counted as int64. bfloat16,
    which numpy lacks, promotes as float16 does, and stays bfloat16 where float16 would."""
    if torch.bfloat16 in (x, y):
        other = y if x == torch.bfloat16 else x
        if other == torch.bfloat16:
            return torch.bfloat16
        dtype = result_dtype(torch.float16, other)
        if other == torch.float16:
            return torch.float32  # as torch promotes the two half types
        return torch.bfloat16 if dtype == torch.float16 else dtype
    dtype = torch_dtype(np.result_type(numpy_dtype(x), numpy_dtype(y)))
    return torch.int64 if dtype == torch.bool else dtype


def integer_bound(a: Tensor, b: Tensor) -> int:
    """An upper bound on |a ∗ b| (each output is Σ a_τ b_{t−τ}), as an int. Widened to float64
    before ``abs`` (abs wraps at an int type's most negative value), and rounded up past the
    float64 sums' rounding, so it is never below the true bound."""
    abs_a, abs_b = a.to(torch.float64).abs(), b.to(torch.float64).abs()
    bound = min((abs_a.max() * abs_b.sum()).item(), (abs_b.max() * abs_a.sum()).item())
    if bound < 2**52:  # every partial sum and product was an integer below 2^53: exact
        return int(bound)
    if bound > 2.0**66:  # far past every integer type: the float64 estimate is enough to refuse
        return math.ceil(bound)
    # near the int64/uint64 limits: the same bound in Python integers, exactly
    abs_a, abs_b = (np.abs(t.detach().cpu().numpy().astype(object)) for t in (a, b))
    return int(min(abs_a.max() * abs_b.sum(), abs_b.max() * abs_a.sum()))


def check_overflow(bound: int, dtype: torch.dtype) -> None:
    limit = torch.iinfo(dtype).max
    if bound > limit:
        raise CnnlabError(
            f"integer overflow risk: outputs may reach ±{bound:,} but the result type {str(dtype).removeprefix('torch.')} "
            f"holds at most {limit:,}; cast the inputs to a wider type first (e.g. int64 or float64)"
        )


def all_finite(*xs: Tensor) -> bool:
    return all(not x.is_floating_point() or bool(torch.isfinite(x).all()) for x in xs)
