"""The lecture's worked examples, exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnlab.conv import METHODS, conv_matrix, convolve
from cnnlab.conv.kernels import KERNELS
from cnnlab.conv.methods.translate_and_scale import add_shifted_copies

A1, B1, OUT1 = [2, -1, 1], [1, 1, 2], [2, 1, 4, -1, 2]
A2 = [[1, 3, 1], [0, -1, 1], [2, 2, -1]]
B2 = [[1, 2], [0, -1]]
OUT2 = [[1, 5, 7, 2], [0, -2, -4, 1], [2, 6, 4, -3], [0, -2, -2, 1]]


@pytest.mark.parametrize("method", ["auto", *METHODS])
def test_1d_example_every_method(method):
    out = convolve(A1, B1, method=method)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, OUT1)


@pytest.mark.parametrize("method", ["auto", *METHODS])
def test_2d_example_every_method(method):
    np.testing.assert_array_equal(convolve(A2, B2, method=method), OUT2)


def _shifted_copies(a, b) -> list[np.ndarray]:
    """cnnlab's translate-and-scale terms: b_τ · (a shifted by τ), one tap of b at a time."""
    a, b = torch.tensor(a), torch.tensor(b)
    terms = []
    for tau in np.ndindex(*b.shape):
        one_tap = torch.zeros_like(b)
        one_tap[tau] = b[tau]
        out = torch.zeros([m + k - 1 for m, k in zip(a.shape, b.shape)], dtype=a.dtype)
        add_shifted_copies(out, a, one_tap, differentiable=False)
        terms.append(out.numpy())
    return terms


def test_1d_translate_and_scale_picture():
    # the slide: (2, −1, 1) ∗ (1, 1, 2) = 2·(1,1,2) + (−1)·(1,1,2) shifted by 1 + 1·(1,1,2) shifted by 2,
    # i.e. b's copies scaled by a's entries; cnnlab scales a by b's taps (convolution commutes)
    picture = [2 * np.array([1, 1, 2, 0, 0]), -1 * np.array([0, 1, 1, 2, 0]), 1 * np.array([0, 0, 1, 1, 2])]
    np.testing.assert_array_equal(_shifted_copies(B1, A1), picture)
    np.testing.assert_array_equal(convolve(A1, B1, method="translate_and_scale"), sum(picture))


def test_2d_translate_and_scale_picture():
    # the slide: 1×A + 2×(A shifted right) + 0×(A shifted down) + (−1)×(A shifted right and down)
    a = np.array(A2)
    shifted = lambda di, dj: np.pad(a, ((di, 1 - di), (dj, 1 - dj)))  # noqa: E731  (numpy, independent of cnnlab)
    picture = [1 * shifted(0, 0), 2 * shifted(0, 1), 0 * shifted(1, 0), -1 * shifted(1, 1)]
    np.testing.assert_array_equal(_shifted_copies(A2, B2), picture)
    np.testing.assert_array_equal(convolve(A2, B2, method="translate_and_scale"), sum(picture))


def test_matrix_slide():
    expected = [[1, 0, 0], [1, 1, 0], [2, 1, 1], [0, 2, 1], [0, 0, 2]]
    t = conv_matrix(B1, 3)
    np.testing.assert_array_equal(t, expected)
    np.testing.assert_array_equal(t @ np.array(A1), OUT1)


def test_matrix_2d_is_doubly_block_toeplitz():
    b = np.array(B2)
    t = conv_matrix(b, (3, 3))  # (16, 9): output 4×4, input 3×3
    assert t.shape == (16, 9)
    blocks = t.reshape(4, 4, 3, 3).transpose(0, 2, 1, 3)  # (out row, in row, out col, in col)
    for i in range(4):
        for j in range(3):
            block = blocks[i, j]
            # each block is Toeplitz (constant diagonals) ...
            for d in range(-2, 4):
                assert len(set(np.diagonal(block, -d).tolist())) <= 1
            # ... and depends only on the row offset i − j
            if 0 <= i - j < 2:
                np.testing.assert_array_equal(block, conv_matrix(b[i - j], 3))
            else:
                assert not block.any()
    np.testing.assert_array_equal(t @ np.ravel(A2), np.ravel(OUT2))


def test_the_lecture_filters_are_in_the_library():
    weights = {
        "blur": [[0, 1, 0], [1, 4, 1], [0, 1, 0]],
        "sharpen": [[0, -1, 0], [-1, 8, -1], [0, -1, 0]],
        "laplacian": [[0, -1, 0], [-1, 4, -1], [0, -1, 0]],
        "sobel-x": [[1, 0, -1], [2, 0, -2], [1, 0, -1]],
    }
    for name, w in weights.items():
        k = KERNELS[name]
        np.testing.assert_array_equal(k.weights, w)
        assert k.lecture and k.description
    assert {k.name for k in KERNELS.values() if k.lecture} == set(weights)


def test_torch_in_torch_out():
    out = convolve(torch.tensor(A1, dtype=torch.float32), torch.tensor(B1, dtype=torch.float32))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    assert out.tolist() == OUT1
