"""A conv method is one registered file: registering one makes it usable everywhere."""

from __future__ import annotations

import numpy as np
import scipy.signal
import torch

from cnnlab.conv import METHODS, convolve, convolve_batch
from cnnlab.conv.methods.flip_and_filter import batch as direct_batch
from cnnlab.conv.regions import full_shape, slices
from cnnlab.conv.registry import REGISTRY, Method, auto_methods, batch_methods, register


def naive(a, b, region):
    """Output by output, straight from the definition (a stand-in for someone's new method)."""
    out = torch.zeros(full_shape(a.shape, b.shape), dtype=a.dtype)
    for i in np.ndindex(*a.shape):
        for j in np.ndindex(*b.shape):
            out[tuple(x + y for x, y in zip(i, j))] += a[i] * b[j]
    return out[slices(region)]


def test_a_registered_method_is_usable_by_convolve_and_convolve_batch():
    spec = Method("naive", 99, naive, lambda a, b, mode: [1.0], int64_devices=None, auto=False, batch=direct_batch)
    register(spec)
    try:
        assert list(METHODS)[-1] == "naive" and "naive" in batch_methods() and "naive" not in auto_methods()
        a, b = np.random.default_rng(0).standard_normal((5, 4)), np.random.default_rng(1).standard_normal((2, 3))
        np.testing.assert_allclose(convolve(a, b, "same", "naive"), scipy.signal.convolve(a, b, "same"), atol=1e-12)
        assert (
            convolve(np.arange(4), np.arange(3), method="naive").tolist()
            == np.convolve(np.arange(4), np.arange(3)).tolist()
        )
        x = np.ones((1, 1, 4, 4))
        np.testing.assert_allclose(
            convolve_batch(x, np.ones((3, 3)), method="naive"), convolve_batch(x, np.ones((3, 3)))
        )
    finally:
        del REGISTRY["naive"]
    assert "naive" not in METHODS


def test_the_builtin_methods_in_the_lectures_order():
    assert list(METHODS) == ["translate_and_scale", "flip_and_filter", "matrix", "im2col", "fft", "overlap_add"]
    assert auto_methods() == ("translate_and_scale", "flip_and_filter", "im2col", "fft", "overlap_add")
    assert batch_methods() == ("translate_and_scale", "flip_and_filter", "fft")
