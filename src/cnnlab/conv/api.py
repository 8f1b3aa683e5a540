"""``convolve`` and ``correlate``: true 1-D and 2-D convolution by any of the lecture's methods.

    >>> from cnnlab.conv import convolve
    >>> convolve([2, -1, 1], [1, 1, 2])                       # the lecture's 1-D example
    array([ 2,  1,  4, -1,  2])
    >>> convolve([[1, 3, 1], [0, -1, 1], [2, 2, -1]], [[1, 2], [0, -1]])
    array([[ 1,  5,  7,  2],
           [ 0, -2, -4,  1],
           [ 2,  6,  4, -3],
           [ 0, -2, -2,  1]])

numpy arrays (or lists) in give numpy arrays out; torch tensors in give torch tensors out,
on their device, differentiable. Shapes and modes follow ``scipy.signal.convolve``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from cnnlab.conv.methods import METHODS
from cnnlab.conv.regions import check_mode, full_shape, region
from cnnlab.errors import CnnlabError

METHOD_NAMES = ("auto", *METHODS)
FFT_METHODS = ("fft", "overlap_add")


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


def _to_tensors(a, b) -> tuple[Tensor, Tensor, bool]:
    """Both as tensors on one device; True if the result should be numpy."""
    a_t, b_t = isinstance(a, Tensor), isinstance(b, Tensor)
    if a_t and b_t:
        if a.device != b.device:
            raise CnnlabError(f"a is on {a.device} and b on {b.device}; move both to one device")
        return a, b, False
    if a_t or b_t:
        device = (a if a_t else b).device
        return (
            (a if a_t else torch.as_tensor(np.asarray(a), device=device)),
            (b if b_t else torch.as_tensor(np.asarray(b), device=device)),
            False,
        )
    return torch.from_numpy(_native(a)), torch.from_numpy(_native(b)), True


def _native(x) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind == "O":
        raise CnnlabError(f"cannot convolve an array of Python objects (shape {x.shape}); pass numbers")
    if x.dtype.kind == "U" or x.dtype.kind == "S":
        raise CnnlabError("cannot convolve strings; pass numbers")
    if not x.dtype.isnative:
        x = x.astype(x.dtype.newbyteorder("="))
    return np.ascontiguousarray(x)


def _result_dtype(a: Tensor, b: Tensor) -> torch.dtype:
    dtype = torch.promote_types(a.dtype, b.dtype)
    return torch.int64 if dtype == torch.bool else dtype


def _integer_bound(a: Tensor, b: Tensor) -> float:
    """An upper bound on |a ∗ b|: each output is Σ a_τ b_{t−τ}."""
    abs_a, abs_b = a.abs().double(), b.abs().double()
    return min((abs_a.max() * abs_b.sum()).item(), (abs_b.max() * abs_a.sum()).item())


def _check_integer(a: Tensor, b: Tensor, out_dtype: torch.dtype, method: str) -> float:
    bound = _integer_bound(a.long() if a.dtype == torch.bool else a, b.long() if b.dtype == torch.bool else b)
    limit = torch.iinfo(out_dtype).max
    if bound > limit:
        raise CnnlabError(
            f"integer overflow risk: outputs may reach ±{bound:,.0f} but the result type {str(out_dtype).removeprefix('torch.')} "
            f"holds at most {limit:,}; cast the inputs to a wider type first (e.g. int64 or float64)"
        )
    return bound


def _fft_exact_for_integers(bound: float, a: Tensor, b: Tensor) -> bool:
    """Can float64 FFT round back to the exact integers? (error ~ eps · bound · log2 n < 1/4)"""
    n = math.prod(full_shape(a.shape, b.shape))
    return bound * 2.0**-52 * 8 * math.log2(n + 1) < 0.25


def _convolve(a, b, mode: str, method: str, flip_b: bool):
    if method not in METHOD_NAMES:
        raise CnnlabError(f"unknown method {method!r}; use one of: {', '.join(METHOD_NAMES)}")
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        out = _numpy_1d(_native(a), _native(b), mode, method, flip_b)
        if out is not None:
            return out
    ta, tb, numpy_out = _to_tensors(a, b)
    check_inputs(ta, tb, mode)
    out_dtype = _result_dtype(ta, tb)
    integer = not out_dtype.is_floating_point
    bound = _check_integer(ta, tb, out_dtype, method) if integer else 0.0
    if flip_b:
        tb = tb.flip(tuple(range(tb.ndim)))
    shape_a, shape_b = tuple(ta.shape), tuple(tb.shape)
    allow_fft = not integer or _fft_exact_for_integers(bound, ta, tb)
    if method == "auto":
        from cnnlab.conv.auto import choose_method

        method = choose_method(shape_a, shape_b, mode, out_dtype, ta.device, numpy_out, allow_fft)
    elif method in FFT_METHODS and not allow_fft:
        raise CnnlabError(
            f"method={method!r} cannot give exact integers for outputs up to ±{bound:,.0f}; "
            "use method='flip_and_filter' or 'auto', or cast to float"
        )
    if numpy_out and ta.ndim == 1 and method == "flip_and_filter":
        return _numpy_convolve(ta.numpy(), tb.numpy(), mode, torch.empty(0, dtype=out_dtype).numpy().dtype)
    compute = (
        torch.float64 if integer else (torch.float32 if out_dtype in (torch.float16, torch.bfloat16) else out_dtype)
    )
    out = METHODS[method](ta.to(compute), tb.to(compute), region(shape_a, shape_b, mode))
    out = out.round().to(out_dtype) if integer else out.to(out_dtype)
    return out.numpy() if numpy_out else out


def _numpy_1d(a: np.ndarray, b: np.ndarray, mode: str, method: str, flip_b: bool):
    """The numpy-only path for 1-D arrays when numpy's own C loop (flip-and-filter) is the
    method: no torch tensors at all, so small calls cost what ``numpy.convolve`` costs.
    Returns None when another method should run (through torch)."""
    if a.ndim != 1 or b.ndim != 1 or method not in ("auto", "flip_and_filter"):
        return None
    check_mode(mode)
    if a.size == 0 or b.size == 0:
        raise CnnlabError(
            f"empty input: a has shape {a.shape} and b has shape {b.shape}; both need at least one element"
        )
    dtype = np.result_type(a, b)
    if dtype.kind == "c":
        raise CnnlabError("complex inputs are not supported; convolve the real and imaginary parts separately")
    if dtype.kind == "b":
        dtype = np.dtype(np.int64)
    if method == "auto" or dtype.kind in "iu":
        return (
            None
            if not _numpy_fast_enough(a, b, mode, dtype, method)
            else _numpy_convolve(a, b[::-1] if flip_b else b, mode, dtype)
        )
    return _numpy_convolve(a, b[::-1] if flip_b else b, mode, dtype)


def _numpy_fast_enough(a: np.ndarray, b: np.ndarray, mode: str, dtype: np.dtype, method: str) -> bool:
    """Integer checks, then (for auto) whether numpy's loop is the method to use."""
    out_len = region(a.shape, b.shape, mode)[0]
    if dtype.kind in "iu":
        bound = min(float(np.abs(a).max()) * float(np.abs(b).sum()), float(np.abs(b).max()) * float(np.abs(a).sum()))
        limit = np.iinfo(dtype).max
        if bound > limit:
            raise CnnlabError(
                f"integer overflow risk: outputs may reach ±{bound:,.0f} but the result type {dtype} "
                f"holds at most {limit:,}; cast the inputs to a wider type first (e.g. int64 or float64)"
            )
        if method == "flip_and_filter":
            return True
    from cnnlab.conv.auto import NUMPY_SMALL_WORK, choose_method

    if (out_len[1] - out_len[0]) * min(a.size, b.size) <= NUMPY_SMALL_WORK:
        return True
    torch_dtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float16): torch.float32}.get(dtype, torch.float64)
    return (
        choose_method(a.shape, b.shape, mode, torch_dtype, torch.device("cpu"), True, dtype.kind == "f")
        == "flip_and_filter"
    )


def _numpy_convolve(a: np.ndarray, b: np.ndarray, mode: str, dtype: np.dtype) -> np.ndarray:
    """numpy's C flip-and-filter (``numpy.convolve``), with scipy's 'same' convention."""
    compute = np.dtype(np.float32) if dtype == np.float16 else dtype
    a, b = a.astype(compute, copy=False), b.astype(compute, copy=False)
    if mode == "same" and len(a) < len(b):  # numpy's 'same' would return len(b) values here
        start, stop = region(a.shape, b.shape, mode)[0]
        out = np.convolve(a, b)[start:stop]
    else:
        out = np.convolve(a, b, mode)
    return out.astype(dtype, copy=False)


def convolve(a, b, mode: str = "full", method: str = "auto"):
    """True convolution ``(a ∗ b)_t = Σ_τ a_τ b_{t−τ}`` of two 1-D or two 2-D arrays.

    ``mode``: ``"full"`` (default), ``"same"`` (the shape of ``a``) or ``"valid"``, as in
    ``scipy.signal.convolve``. ``method``: ``"auto"`` (fastest by the calibrated cost model),
    ``"translate_and_scale"``, ``"flip_and_filter"``, ``"matrix"``, ``"im2col"``, ``"fft"``
    or ``"overlap_add"``. Integers stay exact (an overflow risk is an error); float32 stays
    float32.
    """
    return _convolve(a, b, mode, method, flip_b=False)


def correlate(a, b, mode: str = "full", method: str = "auto"):
    """Cross-correlation ``Σ_τ a_{t+τ} b_τ`` (no kernel flip): what conv-net layers compute.

    Same shapes and conventions as ``scipy.signal.correlate`` (real inputs).
    """
    shape_a, shape_b = np.shape(a), np.shape(b)
    if mode == "valid" and len(shape_a) == len(shape_b) and any(k > m for m, k in zip(shape_a, shape_b)):
        # scipy: with b the larger, 'valid' correlation is the reverse of correlate(b, a)
        return _reverse(_convolve(b, a, mode, method, flip_b=True))
    return _convolve(a, b, mode, method, flip_b=True)


def _reverse(x):
    if isinstance(x, Tensor):
        return x.flip(tuple(range(x.ndim)))
    return np.ascontiguousarray(x[(slice(None, None, -1),) * x.ndim])
