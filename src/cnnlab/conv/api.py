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
on their device, differentiable. Shapes, modes and the result type follow
``scipy.signal.convolve``.

Exact or refuses: integer results are exact in every method (int64 arithmetic where the
method has it on that device, float64 where every partial sum is an integer below 2^53,
Python integers beyond int64), a possible overflow of the result type is an error, and a
method that cannot be exact for the given values (an FFT on large integers, or on NaN/inf,
which it would spread over every output) refuses and names the methods that can.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from cnnlab.conv.auto import NUMPY_SMALL_WORK, choose_method
from cnnlab.conv.methods import METHODS
from cnnlab.conv.methods.translate_and_scale import python_ints
from cnnlab.conv.operands import (
    FLOAT64_EXACT,
    INT64_MAX,
    all_finite,
    check_inputs,
    check_overflow,
    integer_bound,
    native,
    numpy_dtype,
    result_dtype,
    to_tensors,
    torch_dtype,
)
from cnnlab.conv.regions import check_mode, full_shape, region
from cnnlab.conv.registry import Method
from cnnlab.errors import CnnlabError

METHOD_NAMES = ("auto", *METHODS)
PYTHON = "python ints"  # the compute "dtype" of the exact path beyond int64


def _fft_exact_for_integers(bound: int, n: int) -> bool:
    """Can float64 FFT round back to the exact integers? (error ~ eps · bound · log2 n < 1/4)"""
    return bound * 2.0**-52 * 8 * math.log2(n + 1) < 0.25


def compute_dtype(
    spec: Method, out_dtype: torch.dtype, device: torch.device, bound: int, n_full: int, finite: tuple[bool, bool]
) -> torch.dtype | str:
    """What ``spec`` computes in for these inputs, or why it cannot be exact (a str starting
    with "cannot")."""
    if out_dtype.is_floating_point:
        if spec.spectral and not all(finite):
            return "cannot propagate NaN or inf exactly: an FFT spreads one over every output"
        if spec.zero_padded and not any(finite):
            return "cannot propagate NaN or inf exactly when both inputs hold them: it multiplies zero padding by them"
        return torch.float32 if out_dtype in (torch.float16, torch.bfloat16) else out_dtype
    if bound <= INT64_MAX and spec.int64_on(device.type):
        return torch.int64
    if not spec.spectral and bound <= FLOAT64_EXACT:
        return torch.float64  # every product and partial sum is an integer float64 holds exactly
    if spec.spectral and _fft_exact_for_integers(bound, n_full):
        return torch.float64
    if bound > INT64_MAX and spec.name == "translate_and_scale":
        return PYTHON
    if spec.spectral:
        why = "an FFT rounds, and its error bound here exceeds ½"
    elif bound > INT64_MAX:
        why = "int64 arithmetic holds at most 2^63 − 1"
    else:
        why = f"on {device.type} it computes in float64, exact only up to 2^53"
    return f"cannot give exact integers for outputs up to ±{bound:,}: {why}"


def _convolve(a, b, mode: str, method: str, flip_b: bool):
    if method != "auto" and method not in METHODS:  # read at call time: a method registered later counts
        raise CnnlabError(f"unknown method {method!r}; use one of: {', '.join(('auto', *METHODS))}")
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        na, nb = native(a), native(b)
        out = _numpy_1d(na, nb, mode, method, flip_b)
        if out is not None:
            return out
        a, b = na, nb
    ta, tb, numpy_out = to_tensors(a, b)
    check_inputs(ta, tb, mode)
    out_dtype = result_dtype(ta.dtype, tb.dtype)
    integer = not out_dtype.is_floating_point
    bound = integer_bound(ta, tb) if integer else 0
    if integer:
        check_overflow(bound, out_dtype)
    chose_auto = method == "auto"
    if flip_b:
        tb = tb.flip(tuple(range(tb.ndim)))
    shape_a, shape_b = tuple(ta.shape), tuple(tb.shape)
    n_full = math.prod(full_shape(shape_a, shape_b))
    # NaN/inf matter only to the FFT and zero-padding methods: look for them (one pass over
    # each input) only when one of those is asked for or chosen
    finite = (True, True) if integer else None

    def plans_for(seen: tuple[bool, bool]) -> dict[str, torch.dtype | str]:
        return {name: compute_dtype(spec, out_dtype, ta.device, bound, n_full, seen) for name, spec in METHODS.items()}

    plans = plans_for((True, True))
    if method == "auto":
        method = _choose(plans, shape_a, shape_b, mode, out_dtype, ta.device, numpy_out)
    if finite is None and (METHODS[method].spectral or METHODS[method].zero_padded):
        finite = (all_finite(ta), all_finite(tb))
        if not all(finite):
            plans = plans_for(finite)
            if chose_auto and isinstance(plans[method], str):
                method = _choose(plans, shape_a, shape_b, mode, out_dtype, ta.device, numpy_out)
    plan = plans[method]
    if isinstance(plan, str) and plan != PYTHON:
        exact = [name for name, p in plans.items() if not isinstance(p, str) or p == PYTHON]
        use = " or ".join(repr(m) for m in exact)
        raise CnnlabError(f"method={method!r} {plan}; use method={use} or 'auto'")
    r = region(shape_a, shape_b, mode)
    if plan == PYTHON:
        out = torch.from_numpy(python_ints(_numpy(ta), _numpy(tb), r).astype(numpy_dtype(out_dtype)))
        return out.numpy() if numpy_out else out.to(ta.device)
    if numpy_out and ta.ndim == 1 and method == "flip_and_filter":
        return _numpy_convolve(ta.numpy(), tb.numpy(), mode, numpy_dtype(out_dtype))
    out = METHODS[method](ta.to(plan), tb.to(plan), r)
    if integer and plan.is_floating_point:
        out = out.round()  # exact for direct methods; the FFT's error is bounded below ½
    out = out.to(out_dtype)  # integer plans are exact, so the cast loses nothing
    return out.numpy() if numpy_out else out


def _choose(plans, shape_a, shape_b, mode, out_dtype, device, numpy_out) -> str:
    """``auto``'s pick among the auto methods that are exact here."""
    allowed = tuple(m for m, p in plans.items() if METHODS[m].auto and (not isinstance(p, str) or p == PYTHON))
    return choose_method(shape_a, shape_b, mode, out_dtype, device, numpy_out, allowed)


def _numpy(t: Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def _numpy_1d(a: np.ndarray, b: np.ndarray, mode: str, method: str, flip_b: bool):
    """The numpy-only path for 1-D arrays when numpy's own C loop (flip-and-filter) is the
    method: no torch tensors at all, so small calls cost what ``numpy.convolve`` costs.
    ``numpy.convolve`` sums only the products of existing pairs, in the result type, so it is
    exact for integers that cannot overflow and propagates NaN/inf as scipy does.
    Returns None when another method should run (through torch)."""
    if a.ndim != 1 or b.ndim != 1 or method not in ("auto", "flip_and_filter"):
        return None
    check_mode(mode)
    if a.size == 0 or b.size == 0:
        raise CnnlabError(
            f"empty input: a has shape {a.shape} and b has shape {b.shape}; both need at least one element"
        )
    dtype = np.result_type(a, b)
    if dtype.kind == "b":
        dtype = np.dtype(np.int64)
    if dtype.kind in "iu":
        bound = integer_bound(torch.from_numpy(a), torch.from_numpy(b))
        check_overflow(bound, torch_dtype(dtype))
        if method == "auto" and not _numpy_small(a, b, mode):
            return None  # a larger call: let the cost model choose among the exact methods
    elif method == "auto" and not _numpy_fast_enough(a, b, mode, dtype):
        return None
    return _numpy_convolve(a, b[::-1] if flip_b else b, mode, dtype)


def _numpy_small(a: np.ndarray, b: np.ndarray, mode: str) -> bool:
    start, stop = region(a.shape, b.shape, mode)[0]
    return (stop - start) * min(a.size, b.size) <= NUMPY_SMALL_WORK


def _numpy_fast_enough(a: np.ndarray, b: np.ndarray, mode: str, dtype: np.dtype) -> bool:
    """Whether numpy's loop is the method ``auto`` would use (for floats; NaN/inf keep it:
    it is exact for them and the FFT methods are not)."""
    if _numpy_small(a, b, mode):
        return True
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return True
    compute = {np.dtype(np.float32): torch.float32, np.dtype(np.float16): torch.float32}.get(dtype, torch.float64)
    allowed = tuple(m for m, spec in METHODS.items() if spec.auto)
    return choose_method(a.shape, b.shape, mode, compute, torch.device("cpu"), True, allowed) == "flip_and_filter"


def _numpy_convolve(a: np.ndarray, b: np.ndarray, mode: str, dtype: np.dtype) -> np.ndarray:
    """numpy's C flip-and-filter (``numpy.convolve``), with scipy's 'same' convention."""
    compute = np.dtype(np.float32) if dtype == np.float16 else dtype
    a, b = a.astype(compute, copy=False), b.astype(compute, copy=False)
    if mode == "same" and len(a) < len(b):  # numpy's 'same' would return len(b) values here
        start, stop = region(a.shape, b.shape, mode)[0]
        out = np.convolve(a, b)[start:stop]
    else:
        assert mode in ("full", "same", "valid"), mode  # checked by the caller
        out = np.convolve(a, b, mode)
    return out.astype(dtype, copy=False)


def convolve(a, b, mode: str = "full", method: str = "auto"):
    """True convolution ``(a ∗ b)_t = Σ_τ a_τ b_{t−τ}`` of two 1-D or two 2-D arrays.

    ``mode``, the part of the output kept (as in ``scipy.signal.convolve``; M and K are the
    sizes of ``a`` and ``b`` along an axis):

    * ``"full"`` (default): every position where the two overlap at all, M + K − 1 values;
    * ``"same"``: the centre of the full output, the shape of ``a`` (M values);
    * ``"valid"``: only where one lies entirely inside the other, max(M, K) − min(M, K) + 1.

    ``method``, how it is computed (the lecture's methods, one file each under
    ``cnnlab/conv/methods/``; every one gives the same numbers):

    * ``"auto"`` (default): the fastest method that is exact for these inputs, by the
      calibrated cost model;
    * ``"translate_and_scale"``: a sum of copies of ``a``, each shifted by τ and scaled by b_τ;
    * ``"flip_and_filter"``: flip ``b``, slide it along ``a``, one dot product per position
      (what a conv layer computes, without the flip);
    * ``"matrix"``: multiply ``a`` by the convolution (Toeplitz) matrix of ``b``, see ``conv_matrix``;
    * ``"im2col"``: copy every window of ``a`` into a row of a matrix, then one matrix multiply;
    * ``"fft"``: the convolution theorem, F(a ∗ b) = F(a) · F(b), fastest for large kernels;
    * ``"overlap_add"``: FFTs of ``a`` block by block, for a long signal and a short kernel.

    Integers stay exact (an overflow risk is an error); the result type is numpy's
    promotion of the two (float32 stays float32, int32 with float32 gives float64); torch
    tensors in give torch tensors out, on their device, differentiable.

    >>> convolve([2, -1, 1], [1, 1, 2])                       # the lecture's 1-D example
    array([ 2,  1,  4, -1,  2])
    >>> convolve([2, -1, 1], [1, 1, 2], mode="same"), convolve([2, -1, 1], [1, 1, 2], mode="valid")
    (array([ 1,  4, -1]), array([4]))
    >>> from cnnlab.conv import METHODS
    >>> all((convolve([2, -1, 1], [1, 1, 2], method=m) == [2, 1, 4, -1, 2]).all() for m in METHODS)
    True

    To look at the result of filtering an image: ``cnnlab.show(convolve(image, kernel, mode="same"))``.
    """
    return _convolve(a, b, mode, method, flip_b=False)


def correlate(a, b, mode: str = "full", method: str = "auto"):
    """Cross-correlation ``Σ_τ a_{t+τ} b_τ`` (no kernel flip): what conv-net layers compute.

    Same modes, methods and conventions as :func:`convolve` and ``scipy.signal.correlate``
    (real inputs): correlating with ``b`` is convolving with ``b`` flipped.

    >>> correlate([2, -1, 1], [1, 1, 2])
    array([4, 0, 3, 0, 1])
    >>> bool((correlate([2, -1, 1], [1, 1, 2]) == convolve([2, -1, 1], [2, 1, 1])).all())
    True
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
