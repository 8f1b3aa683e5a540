"""Batched filtering of (N, C, H, W) stacks against scipy, per image and channel."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import scipy.signal
import torch

from cnnlab.conv.batch import BATCH_METHODS, convolve_batch
from cnnlab.conv.regions import MODES
from cnnlab.errors import CnnlabError

rng = np.random.default_rng(0)
X = rng.standard_normal((3, 2, 11, 9))


@pytest.mark.parametrize("method", BATCH_METHODS)
@pytest.mark.parametrize("mode", MODES)
def test_one_kernel_for_every_channel(method, mode):
    k = rng.standard_normal((3, 4))
    out = convolve_batch(X, k, mode, method)
    ref = np.stack([np.stack([scipy.signal.convolve(X[n, c], k, mode) for c in range(2)]) for n in range(3)])
    np.testing.assert_allclose(out, ref, atol=1e-10)


@pytest.mark.parametrize("method", BATCH_METHODS)
def test_one_kernel_per_channel(method):
    k = rng.standard_normal((2, 5, 3))
    out = convolve_batch(X, k, "same", method)
    ref = np.stack([np.stack([scipy.signal.convolve(X[n, c], k[c], "same") for c in range(2)]) for n in range(3)])
    np.testing.assert_allclose(out, ref, atol=1e-10)


@pytest.mark.parametrize("method", ["auto", "flip_and_filter", "fft"])
@pytest.mark.parametrize("mode", MODES)
def test_full_multichannel_kernel(method, mode):
    k = rng.standard_normal((4, 2, 3, 3))  # 4 output maps from 2 channels
    out = convolve_batch(X, k, mode, method)
    ref = np.stack(
        [
            np.stack([sum(scipy.signal.convolve(X[n, c], k[o, c], mode) for c in range(2)) for o in range(4)])
            for n in range(3)
        ]
    )
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, atol=1e-10)


@pytest.mark.parametrize(
    "boundary,ndimage_mode", [("reflect", "mirror"), ("replicate", "nearest"), ("circular", "wrap")]
)
@pytest.mark.parametrize("method", ["flip_and_filter", "fft", "translate_and_scale"])
def test_boundaries_match_scipy_ndimage(boundary, ndimage_mode, method):
    k = rng.standard_normal((3, 5))  # odd sizes: ndimage centres the kernel the same way
    out = convolve_batch(X, k, "same", method, boundary)
    ref = np.stack(
        [np.stack([scipy.ndimage.convolve(X[n, c], k, mode=ndimage_mode) for c in range(2)]) for n in range(3)]
    )
    np.testing.assert_allclose(out, ref, atol=1e-10)


def test_torch_stays_on_device_and_differentiable():
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    k = torch.randn(3, 3, 3, requires_grad=True)
    for method in ("flip_and_filter", "fft", "translate_and_scale"):
        out = convolve_batch(x, k, "same", method)
        assert isinstance(out, torch.Tensor) and out.shape == (2, 3, 8, 8)
        gx, gk = torch.autograd.grad(out.square().sum(), (x, k))
        ref = convolve_batch(x, k, "same", "flip_and_filter")
        rgx, rgk = torch.autograd.grad(ref.square().sum(), (x, k))
        torch.testing.assert_close(gx, rgx, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(gk, rgk, atol=1e-4, rtol=1e-4)


def test_errors():
    with pytest.raises(CnnlabError, match=r"images must be \(N, C, H, W\), got shape \(11, 9\)"):
        convolve_batch(X[0, 0], np.ones((3, 3)))
    with pytest.raises(CnnlabError, match=r"kernel of shape \(3, 3, 3\) does not fit images with 2 channels"):
        convolve_batch(X, np.ones((3, 3, 3)))
    with pytest.raises(CnnlabError, match="works with mode='same' only"):
        convolve_batch(X, np.ones((3, 3)), "full", boundary="reflect")
    with pytest.raises(CnnlabError, match="unknown boundary"):
        convolve_batch(X, np.ones((3, 3)), boundary="mirror")
    with pytest.raises(CnnlabError, match="for \\(O, C, kh, kw\\) kernels use flip_and_filter or fft"):
        convolve_batch(X, np.ones((1, 2, 3, 3)), method="translate_and_scale")
