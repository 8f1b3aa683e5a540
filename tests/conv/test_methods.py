"""Every method against scipy, on random shapes and values, in every mode; algebraic
properties; autograd against torch's own convolution."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cnnlab.conv import METHODS, conv_matrix, convolve, correlate
from cnnlab.conv.regions import MODES

ALL = ["auto", *METHODS]
TOL = {np.float64: 1e-9, np.float32: 2e-4}


@st.composite
def pairs(draw, max_side=12):
    ndim = draw(st.sampled_from([1, 2]))
    shape_a = tuple(draw(st.integers(1, max_side)) for _ in range(ndim))
    shape_b = tuple(draw(st.integers(1, max_side)) for _ in range(ndim))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape_a).astype(dtype), rng.standard_normal(shape_b).astype(dtype)


def _valid_ok(a, b):
    return all(m >= k for m, k in zip(a.shape, b.shape)) or all(k >= m for m, k in zip(a.shape, b.shape))


def _close(out, ref, dtype):
    assert out.shape == ref.shape
    assert out.dtype == dtype
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(out, ref, atol=TOL[dtype] * scale, rtol=TOL[dtype])


@settings(max_examples=60, deadline=None)
@given(pairs(), st.sampled_from(MODES), st.sampled_from(ALL))
def test_convolve_equals_scipy(ab, mode, method):
    a, b = ab
    assume(mode != "valid" or _valid_ok(a, b))
    _close(
        convolve(a, b, mode, method),
        scipy.signal.convolve(a.astype(np.float64), b.astype(np.float64), mode),
        a.dtype.type,
    )


@settings(max_examples=60, deadline=None)
@given(pairs(), st.sampled_from(MODES), st.sampled_from(ALL))
def test_correlate_equals_scipy(ab, mode, method):
    a, b = ab
    assume(mode != "valid" or _valid_ok(a, b))
    _close(
        correlate(a, b, mode, method),
        scipy.signal.correlate(a.astype(np.float64), b.astype(np.float64), mode),
        a.dtype.type,
    )


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.sampled_from(MODES), st.integers(0, 1000))
def test_1d_matches_numpy(m, k, mode, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(m), rng.standard_normal(k)
    assume(mode != "same" or m >= k)  # numpy's 'same' then returns max(m, k) values; cnnlab follows scipy
    np.testing.assert_allclose(convolve(a, b, mode), np.convolve(a, b, mode), atol=1e-12)
    np.testing.assert_allclose(correlate(a, b, mode), np.correlate(a, b, mode), atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(pairs(max_side=8), st.sampled_from(ALL))
def test_commutative(ab, method):
    a, b = ab
    tol = TOL[a.dtype.type] * 10
    np.testing.assert_allclose(convolve(a, b, "full", method), convolve(b, a, "full", method), atol=tol, rtol=tol)


@settings(max_examples=40, deadline=None)
@given(pairs(max_side=8), st.floats(-3, 3), st.floats(-3, 3), st.sampled_from(ALL))
def test_linear(ab, l1, l2, method):
    a, b = (x.astype(np.float64) for x in ab)
    c = np.random.default_rng(1).standard_normal(b.shape)
    left = convolve(a, l1 * b + l2 * c, "full", method)
    right = l1 * convolve(a, b, "full", method) + l2 * convolve(a, c, "full", method)
    np.testing.assert_allclose(left, right, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(pairs(max_side=6), st.sampled_from(ALL))
def test_associative(ab, method):
    a, b = (x.astype(np.float64) for x in ab)
    c = np.random.default_rng(2).standard_normal(tuple(reversed(b.shape)))
    np.testing.assert_allclose(
        convolve(convolve(a, b, method=method), c, method=method),
        convolve(a, convolve(b, c, method=method), method=method),
        atol=1e-9,
    )


@settings(max_examples=30, deadline=None)
@given(pairs(max_side=8), st.integers(1, 4), st.sampled_from(ALL))
def test_shift_equivariant(ab, shift, method):
    a, b = (x.astype(np.float64) for x in ab)
    pad = [(shift, 0)] * a.ndim
    shifted = np.pad(a, pad)  # a translated by `shift` along every axis
    out = convolve(shifted, b, "full", method)
    expected = np.pad(convolve(a, b, "full", method), pad)
    np.testing.assert_allclose(out, expected, atol=1e-9)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shapes", [((9,), (4,)), ((7, 6), (3, 2)), ((3,), (8,))])
@pytest.mark.parametrize("mode", MODES)
def test_gradients_match_torch_conv(method, shapes, mode):
    (sa, sb) = shapes  # every pair here has one input at least as large as the other, as 'valid' needs
    torch.manual_seed(0)
    a = torch.randn(sa, dtype=torch.float64, requires_grad=True)
    b = torch.randn(sb, dtype=torch.float64, requires_grad=True)
    out = convolve(a, b, mode, method)
    # reference: full convolution by torch's conv (cross-correlation with the flipped kernel), cropped like scipy
    ref_a = a.detach().clone().requires_grad_()
    ref_b = b.detach().clone().requires_grad_()
    big, small = (ref_a, ref_b) if ref_a.numel() >= ref_b.numel() else (ref_b, ref_a)
    conv = F.conv1d if a.ndim == 1 else F.conv2d
    pads = [k - 1 for k in reversed(small.shape) for _ in (0, 1)]  # F.pad: last dimension first
    full = conv(F.pad(big, pads)[None, None], small.flip(tuple(range(small.ndim)))[None, None])[0, 0]
    ref_np = scipy.signal.convolve(a.detach().numpy(), b.detach().numpy(), mode)
    starts = [(f - n) // 2 for f, n in zip(full.shape, ref_np.shape)]
    ref = full[tuple(slice(s, s + n) for s, n in zip(starts, ref_np.shape))]
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(out)
    ga, gb = torch.autograd.grad(out, (a, b), g)
    rga, rgb = torch.autograd.grad(ref, (ref_a, ref_b), g)
    torch.testing.assert_close(ga, rga)
    torch.testing.assert_close(gb, rgb)


@pytest.mark.parametrize("method", METHODS)
def test_gradcheck(method):
    a = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: convolve(x, y, "same", method), (a, b))


def test_dtypes_are_kept():
    a32, b32 = np.ones(50, np.float32), np.ones(5, np.float32)
    assert convolve(a32, b32).dtype == np.float32
    assert convolve(a32, b32.astype(np.float64)).dtype == np.float64
    assert convolve(np.ones(5, np.int32), np.ones(3, np.int32)).dtype == np.int32
    half = convolve(torch.ones(20, dtype=torch.float16), torch.ones(3, dtype=torch.float16), method="fft")
    assert half.dtype == torch.float16 and half[5].item() == 3


@pytest.mark.parametrize("method", ["auto", *METHODS])
def test_integers_are_exact(method):
    rng = np.random.default_rng(0)
    a = rng.integers(-(2**20), 2**20, 300)
    b = rng.integers(-(2**10), 2**10, 17)
    exact = np.array([sum(int(a[t - j]) * int(b[j]) for j in range(17) if 0 <= t - j < 300) for t in range(316)])
    np.testing.assert_array_equal(convolve(a, b, method=method), exact)


def test_conv_matrix_equals_convolve_in_every_mode():
    rng = np.random.default_rng(3)
    for shape_a, shape_b in [((7,), (3,)), ((3,), (7,)), ((5, 6), (2, 3)), ((4, 4), (4, 4))]:
        a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
        for mode in MODES:
            t = conv_matrix(b, shape_a, mode)
            np.testing.assert_allclose(t @ a.ravel(), scipy.signal.convolve(a, b, mode).ravel(), atol=1e-12)
            sparse = conv_matrix(b, shape_a, mode, sparse=True)
            np.testing.assert_allclose(sparse @ a.ravel(), t @ a.ravel(), atol=1e-12)
            tt = conv_matrix(torch.from_numpy(b), shape_a, mode, sparse=True)
            np.testing.assert_allclose(
                (tt @ torch.from_numpy(a).reshape(-1, 1)).ravel().numpy(), t @ a.ravel(), atol=1e-12
            )
