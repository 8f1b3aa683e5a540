"""One clear error for each way the input can be wrong."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnlab.conv import conv_matrix, convolve, correlate
from cnnlab.errors import CnnlabError


def test_empty():
    with pytest.raises(CnnlabError, match=r"empty input: a has shape \(0,\)"):
        convolve([], [1, 2])
    with pytest.raises(CnnlabError, match="empty input"):
        correlate(np.ones((3, 3)), np.ones((0, 2)))


def test_dimension_mismatch():
    with pytest.raises(CnnlabError, match=r"dimension mismatch: a is 1-D \(3,\) but b is 2-D \(2, 2\)"):
        convolve([1, 2, 3], [[1, 2], [3, 4]])


def test_three_dimensions_point_to_the_batched_form():
    with pytest.raises(CnnlabError, match="convolve_batch"):
        convolve(np.ones((2, 2, 2)), np.ones((1, 1, 1)))


def test_unknown_mode_and_method():
    with pytest.raises(CnnlabError, match=r"unknown mode 'circular'; use 'full', 'same' or 'valid'"):
        convolve([1, 2], [1], mode="circular")
    with pytest.raises(
        CnnlabError,
        match=r"unknown method 'winograd'; use one of: auto, translate_and_scale, flip_and_filter, matrix, im2col, fft, overlap_add",
    ):
        convolve([1, 2], [1], method="winograd")


def test_valid_mode_needs_one_larger_input():
    with pytest.raises(
        CnnlabError,
        match=r"'valid' mode needs one input at least as large as the other in every dimension; got shapes \(5, 2\) and \(2, 5\)",
    ):
        convolve(np.ones((5, 2)), np.ones((2, 5)), mode="valid")


def test_integer_overflow_risk():
    img = np.full(10, 200, dtype=np.uint8)
    with pytest.raises(
        CnnlabError,
        match=r"integer overflow risk: outputs may reach ±600 but the result type uint8 holds at most 255; cast",
    ):
        convolve(img, np.ones(3, dtype=np.uint8))
    big = np.full(4, 2**40, dtype=np.int64)
    with pytest.raises(CnnlabError, match="integer overflow risk"):
        convolve(big, big)
    # the same data in a wider type works and is exact
    assert convolve(img.astype(np.int64), np.ones(3, dtype=np.int64)).max() == 600


def test_fft_refuses_integers_it_cannot_keep_exact():
    kernel = np.arange(1, 5)
    # outputs up to ~1e13: float64 FFT errors stay ~1e-2, so rounding gives the exact integers
    ok = np.full(64, 2**40, dtype=np.int64)
    np.testing.assert_array_equal(convolve(ok, kernel, method="fft"), np.convolve(ok, kernel))
    # outputs up to ~7e14: the FFT cannot promise that, so it refuses and auto avoids it
    big = np.full(64, 2**46, dtype=np.int64)
    with pytest.raises(CnnlabError, match="cannot give exact integers"):
        convolve(big, kernel, method="fft")
    exact = convolve(big, kernel)
    assert exact[10] == 10 * 2**46 and exact.dtype == np.int64


def test_complex_and_strings():
    with pytest.raises(CnnlabError, match="complex inputs are not supported"):
        convolve(np.ones(3, complex), np.ones(2))
    with pytest.raises(CnnlabError, match="cannot convolve strings"):
        convolve(["a", "b"], [1])


def test_dense_matrix_too_large_suggests_sparse():
    with pytest.raises(CnnlabError, match="pass sparse=True"):
        conv_matrix(np.ones((3, 3)), (2000, 2000))
    sparse = conv_matrix(np.ones((3, 3)), (200, 200), sparse=True)
    assert sparse.nnz == 9 * 200 * 200


def test_mixed_devices_meta():
    with pytest.raises(CnnlabError, match="move both to one device"):
        convolve(torch.ones(3), torch.ones(2, device="meta"))


@pytest.mark.parametrize(
    "shape,message",
    [(-1, "input_shape must be a positive int"), (3.0, "got 3.0"), ((3, 0), "got \\(3, 0\\)"), (True, "got True")],
)
def test_conv_matrix_input_shape_must_be_positive_ints(shape, message):
    with pytest.raises(CnnlabError, match=message):
        conv_matrix(np.ones(3), shape)


@pytest.mark.parametrize(
    "spec,message",
    [
        ("gaussian:inf", "sigma must be a positive finite number"),
        ("gaussian:nan", "sigma must be a positive finite number"),
        ("gaussian:2:0", "size must be a whole number of at least 1"),
        ("box:2.7", "must be a whole number, got 2.7"),
        ("box:0", "box size must be a whole number from 1"),
        ("gaussian:1e9", "larger than 1025"),
    ],
)
def test_kernel_parameters_are_checked(spec, message):
    from cnnlab.conv.kernels import get_kernel

    with pytest.raises(CnnlabError, match=message):
        get_kernel(spec)


def test_convolve_batch_is_importable_from_conv_and_takes_any_layout():
    from cnnlab.conv import convolve_batch

    x = np.arange(2 * 16, dtype=">f8").reshape(1, 2, 4, 4)[:, :, ::-1]  # big-endian, negative strides
    k = np.ones((2, 2))[::-1]
    ref = convolve_batch(np.ascontiguousarray(x).astype(np.float64), np.ones((2, 2)))
    np.testing.assert_array_equal(convolve_batch(x, k), ref)
    np.testing.assert_array_equal(convolve_batch(torch.from_numpy(ref.copy()), k).shape, ref.shape)


def test_numpy_layouts_mixed_with_torch():
    a = np.arange(6.0)[::-1]  # negative strides
    out = convolve(a, torch.ones(2, dtype=torch.float64))
    assert out.tolist() == [5.0, 9.0, 7.0, 5.0, 3.0, 1.0, 0.0]
    big = np.arange(6.0).astype(">f8")
    assert convolve(torch.ones(2, dtype=torch.float64), big).tolist() == [0.0, 1.0, 3.0, 5.0, 7.0, 9.0, 5.0]
