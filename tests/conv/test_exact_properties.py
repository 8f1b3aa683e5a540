"""Exact or refuses: every method on every dtype, shape, stride, byte order and non-finite
value, against an exact reference (Python integers for integer inputs; a pair-by-pair sum
in float64 otherwise), or the documented refusal (hypothesis).

The reference is the definition, (a ∗ b)_t = Σ_τ a_τ b_{t−τ} over the pairs that exist, cropped
as ``scipy.signal.convolve`` crops each mode (its output shape is taken from scipy)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.signal
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnnlab.conv import METHODS, convolve, correlate
from cnnlab.errors import CnnlabError

INTS = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64, np.bool_]
FLOATS = [np.float16, np.float32, np.float64]
TOL = {np.float16: 4e-3, np.float32: 1e-5, np.float64: 1e-12, "bfloat16": 2e-2}


def definition(a: np.ndarray, b: np.ndarray, mode: str, exact: bool) -> np.ndarray:
    """The sum over existing pairs, in Python ints (exact) or Python floats (float64), cropped
    to scipy's output shape for ``mode``."""
    conv = (lambda x: int(x)) if exact else (lambda x: float(x))
    full_shape = tuple(m + k - 1 for m, k in zip(a.shape, b.shape))
    full = np.zeros(full_shape, dtype=object)
    full[...] = 0 if exact else 0.0
    for i in itertools.product(*(range(m) for m in a.shape)):
        for j in itertools.product(*(range(k) for k in b.shape)):
            t = tuple(x + y for x, y in zip(i, j))
            full[t] = full[t] + conv(a[i]) * conv(b[j])
    shape = scipy.signal.convolve(np.ones(a.shape), np.ones(b.shape), mode).shape
    start = [(f - n) // 2 for f, n in zip(full_shape, shape)]
    return full[tuple(slice(s, s + n) for s, n in zip(start, shape))]


@st.composite
def arrays(draw, dtype, shape):
    if dtype == np.bool_:
        values = draw(st.lists(st.booleans(), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    elif np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        element = st.one_of(st.integers(max(info.min, -3), 3), st.integers(info.min, info.max))
        values = draw(st.lists(element, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    else:
        element = st.one_of(
            st.floats(-4, 4, width=16),
            st.sampled_from([np.nan, np.inf, -np.inf, 0.0]) if draw(st.booleans()) else st.floats(-4, 4, width=16),
        )
        values = draw(st.lists(element, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    return np.array(values, dtype=dtype).reshape(shape)


@st.composite
def operand(draw, ndim: int, kind: str, as_torch: bool):
    """An array of a drawn dtype and shape, in a drawn layout (reversed strides, a strided
    view, big-endian) and kind (numpy or torch)."""
    dtype = draw(st.sampled_from(INTS if kind == "int" else FLOATS))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(ndim))
    x = draw(arrays(dtype, shape))
    layout = draw(st.sampled_from(["plain", "reversed", "strided", "big-endian"]))
    if layout == "reversed":  # a negative-stride view holding the same values
        x = np.ascontiguousarray(x[(slice(None, None, -1),) * ndim])[(slice(None, None, -1),) * ndim]
    elif layout == "strided":
        wide = np.repeat(x, 2, axis=-1)
        x = wide[..., ::2]
    elif layout == "big-endian" and x.dtype.itemsize > 1:
        x = x.astype(x.dtype.newbyteorder(">"))
    if as_torch:
        t = torch.from_numpy(np.ascontiguousarray(x).astype(x.dtype.newbyteorder("="), copy=False))
        if layout == "strided":  # a non-contiguous tensor
            t = torch.repeat_interleave(t, 2, dim=-1)[..., ::2]
        bf16 = kind == "float" and draw(st.booleans()) and t.dtype != torch.float64
        return t.to(torch.bfloat16) if bf16 else t
    return x


def _refusal_is_documented(message: str, method: str, integer: bool, finite: tuple[bool, bool], torch_in: bool) -> bool:
    spectral = method in ("fft", "overlap_add")
    if integer:  # on the CPU every direct method has exact int64 arithmetic; beyond int64
        # (a uint64 result) only translate_and_scale's Python integers are exact, and the others say so
        beyond = "int64 arithmetic holds at most 2^63 − 1" in message and "use method='translate_and_scale'" in message
        return "cannot give exact integers" in message and (spectral or (beyond and method != "translate_and_scale"))
    if spectral:
        return not all(finite) and "cannot propagate NaN or inf" in message
    return method in ("flip_and_filter", "im2col") and not any(finite) and "both inputs hold them" in message


def _as_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return (x.float() if x.dtype == torch.bfloat16 else x).numpy()
    return x


@settings(max_examples=300, deadline=None)
@given(
    st.data(), st.sampled_from([1, 2]), st.sampled_from(["int", "float"]), st.sampled_from(["full", "same", "valid"])
)
def test_exact_or_refuses(data, ndim, kind, mode):
    as_torch = data.draw(st.sampled_from([(False, False), (True, True), (True, False), (False, True)]))
    a = data.draw(operand(ndim, kind, as_torch[0]))
    b = data.draw(operand(ndim, kind, as_torch[1]))
    method = data.draw(st.sampled_from(["auto", *METHODS]))
    na, nb = _as_numpy(a), _as_numpy(b)
    if mode == "valid":
        assume(all(m >= k for m, k in zip(na.shape, nb.shape)) or all(k >= m for m, k in zip(na.shape, nb.shape)))
    integer = np.result_type(na.dtype, nb.dtype).kind in "iub"  # uint64 with a signed int is float64, as in numpy
    torch_in = isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor)
    finite = (bool(np.isfinite(na.astype(np.float64)).all()), bool(np.isfinite(nb.astype(np.float64)).all()))
    try:
        out = convolve(a, b, mode, method)
    except CnnlabError as e:
        if integer and "integer overflow risk" in str(e):
            result = np.result_type(na.dtype, nb.dtype)
            result = np.dtype(np.int64) if result == np.bool_ else result
            bound = min(
                max(abs(int(v)) for v in na.flat) * sum(abs(int(v)) for v in nb.flat),
                max(abs(int(v)) for v in nb.flat) * sum(abs(int(v)) for v in na.flat),
            )
            assert bound > np.iinfo(result).max, (str(e), bound)  # refused only when it can overflow
            return
        assert _refusal_is_documented(str(e), method, integer, finite, torch_in), (method, str(e))
        return
    assert isinstance(out, torch.Tensor) == torch_in
    got = _as_numpy(out.cpu() if torch_in else out)
    if integer:
        ref = definition(na, nb, mode, exact=True)
        expected = np.result_type(na.dtype, nb.dtype)
        assert got.dtype == (np.int64 if expected == np.bool_ else expected)
        assert [int(v) for v in got.flat] == list(ref.flat)  # exactly, as Python integers
        return
    ref = definition(na.astype(np.float64), nb.astype(np.float64), mode, exact=False).astype(np.float64)
    bf16 = any(isinstance(x, torch.Tensor) and x.dtype == torch.bfloat16 for x in (a, b))
    if not bf16:
        assert got.dtype == np.result_type(na.dtype, nb.dtype)
    tol = TOL["bfloat16" if bf16 and out.dtype == torch.bfloat16 else got.dtype.type]
    assert got.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))  # NaN exactly where the sum has one
    finite_ref = np.isfinite(ref)
    np.testing.assert_array_equal(got[~finite_ref & ~np.isnan(ref)], ref[~finite_ref & ~np.isnan(ref)])  # ±inf
    scale = max(1.0, float(np.abs(ref[finite_ref]).max(initial=0)))
    np.testing.assert_allclose(got[finite_ref], ref[finite_ref], rtol=tol, atol=tol * scale)


@pytest.mark.parametrize("method", ["auto", *METHODS])
@pytest.mark.parametrize(
    "a,b,expected",
    [
        ([-32768, 5], [-1, 1], None),  # the true [32768, -32773, 5] does not fit int16: an overflow error
        ([[2**53 + 1, 3]], [[1, 1]], [[2**53 + 1, 2**53 + 4, 3]]),  # beyond float64's integers
        ([[3_000_000_000]], [[3_000_000_001]], [[9_000_000_003_000_000_000]]),
    ],
)
def test_the_issue_cases(method, a, b, expected):
    dtype = np.int16 if expected is None else np.int64
    a, b = np.array(a, dtype), np.array(b, dtype)
    if expected is None:
        with pytest.raises(CnnlabError, match="integer overflow risk: outputs may reach ±32,773"):
            convolve(a, b, method=method)
        return
    try:
        out = convolve(a, b, method=method)
    except CnnlabError as e:
        assert method in ("fft", "overlap_add") and "cannot give exact integers" in str(e)
        assert "'translate_and_scale'" in str(e)
        return
    assert out.dtype == np.int64 and out.tolist() == expected


def test_the_most_negative_value_is_not_wrapped_by_abs():
    with pytest.raises(CnnlabError, match="±128 but the result type int8"):
        convolve(np.array([-128], np.int8), np.array([-1], np.int8))
    assert convolve(np.array([-128], np.int16), np.array([-1], np.int8)).tolist() == [128]


def test_uint64_beyond_int64_is_exact():
    a = np.array([[2**64 - 2, 0]], np.uint64)
    out = convolve(a, np.array([[1, 0]], np.uint64), method="translate_and_scale")
    assert out.dtype == np.uint64 and [int(v) for v in out.flat] == [2**64 - 2, 0, 0]


def test_nan_propagates_through_zero_taps():
    for method in ("auto", "translate_and_scale", "flip_and_filter", "matrix", "im2col"):
        out = convolve(np.array([1.0, np.nan, 2.0]), np.array([0.0, 1.0]), method=method)
        np.testing.assert_array_equal(out, [0.0, np.nan, np.nan, 2.0])


def test_mixed_int_and_float32_gives_float64_like_scipy():
    a, b = np.array([[16777217]], np.int32), np.array([[1.0]], np.float32)
    for method in ("auto", *METHODS):
        out = convolve(a, b, method=method)
        assert out.dtype == np.float64 and out[0, 0] == 16777217
    assert scipy.signal.convolve(a, b).dtype == np.float64


def test_correlate_is_convolve_with_the_flipped_kernel():
    rng = np.random.default_rng(0)
    a, b = rng.integers(-9, 9, (4, 5)), rng.integers(-9, 9, (2, 3))
    for method in ("auto", *METHODS):
        np.testing.assert_array_equal(correlate(a, b, method=method), scipy.signal.correlate(a, b))
