"""Filtering a stack of images, (N, C, H, W), in one call on CPU or GPU.

    kernel (kh, kw)          the same filter on every channel of every image  -> (N, C, H', W')
    kernel (C, kh, kw)       one filter per channel (depthwise)               -> (N, C, H', W')
    kernel (O, C, kh, kw)    O full multi-channel filters, summed over C      -> (N, O, H', W')

True convolution (the kernel is flipped), with ``scipy.signal.convolve``'s modes applied to
(H, W). ``boundary`` says what lies outside the image: ``"zero"`` (the mathematical
definition), or ``"reflect"``, ``"replicate"``, ``"circular"`` (image-processing
conventions; mode ``"same"`` only).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnlab.conv.auto import calibration_key, load_calibration, predict
from cnnlab.conv.methods import METHODS
from cnnlab.conv.operands import as_tensor
from cnnlab.conv.regions import check_mode, region
from cnnlab.conv.registry import batch_methods
from cnnlab.errors import CnnlabError

BATCH_METHODS = ("auto", *batch_methods())  # the built-in ones; calls read the registry afresh
BOUNDARIES = ("zero", "reflect", "replicate", "circular")


def _check(x: Tensor, k: Tensor, mode: str, method: str, boundary: str) -> None:
    check_mode(mode)
    names = ("auto", *batch_methods())
    if method not in names:
        raise CnnlabError(f"unknown method {method!r} for convolve_batch; use one of: {', '.join(names)}")
    if boundary not in BOUNDARIES:
        raise CnnlabError(f"unknown boundary {boundary!r}; use one of: {', '.join(BOUNDARIES)}")
    if x.ndim != 4:
        raise CnnlabError(
            f"images must be (N, C, H, W), got shape {tuple(x.shape)}; add axes with x[None] or x[:, None]"
        )
    if x.numel() == 0 or k.numel() == 0:
        raise CnnlabError(f"empty input: images {tuple(x.shape)}, kernel {tuple(k.shape)}")
    if x.is_complex() or k.is_complex():
        raise CnnlabError("complex inputs are not supported; filter the real and imaginary parts separately")
    c = x.shape[1]
    ok = k.ndim == 2 or (k.ndim == 3 and k.shape[0] == c) or (k.ndim == 4 and k.shape[1] == c)
    if not ok:
        raise CnnlabError(
            f"kernel of shape {tuple(k.shape)} does not fit images with {c} channels; use (kh, kw), "
            f"({c}, kh, kw) or (O, {c}, kh, kw)"
        )
    if boundary != "zero" and mode != "same":
        raise CnnlabError(f"boundary={boundary!r} works with mode='same' only (got mode={mode!r})")
    region((1, 1), (1, 1), mode)


def _auto(x: Tensor, k: Tensor, mode: str) -> str:
    model = load_calibration().get(calibration_key(2, x.dtype, x.device, False))
    kh, kw = k.shape[-2:]
    if model is None:
        return "fft" if kh * kw > 49 else "flip_and_filter"
    # the per-image cost model; the direct library conv is batched efficiently, so compare
    # it on the whole stack against FFT, which scales with the number of image planes
    planes = x.shape[0] * (k.shape[0] * x.shape[1] if k.ndim == 4 else x.shape[1])
    shape_a, shape_b = tuple(x.shape[-2:]), (kh, kw)
    costs = {
        name: predict(model, name, shape_a, shape_b, mode) * planes
        for name in batch_methods()
        if name in model["log_seconds"] and (k.ndim != 4 or METHODS[name].batch_multichannel)
    }
    return min(costs, key=costs.__getitem__)


def convolve_batch(images, kernel, mode: str = "same", method: str = "auto", boundary: str = "zero"):
    """Convolve every image of an (N, C, H, W) stack with ``kernel`` (see the module doc).

    numpy in gives numpy out; torch tensors stay on their device and keep autograd.
    Integer images are converted to float32.

    >>> import numpy as np
    >>> out = convolve_batch(np.ones((2, 3, 8, 8)), np.ones((3, 3)))
    >>> out.shape, float(out[0, 0, 4, 4]), float(out[0, 0, 0, 0])
    ((2, 3, 8, 8), 9.0, 4.0)
    """
    numpy_out = not isinstance(images, Tensor)
    x = as_tensor(images)
    k = as_tensor(kernel, x.device)
    _check(x, k, mode, method, boundary)
    if k.device != x.device:
        raise CnnlabError(f"images are on {x.device} and the kernel on {k.device}; move both to one device")
    dtype = torch.promote_types(x.dtype, k.dtype)
    if not dtype.is_floating_point or dtype in (torch.float16, torch.bfloat16):
        dtype = torch.float32
    x, k = x.to(dtype), k.to(dtype)
    kh, kw = k.shape[-2:]
    if boundary != "zero":
        top, left = kh - 1 - (kh - 1) // 2, kw - 1 - (kw - 1) // 2
        pads = (left, kw - 1 - left, top, kh - 1 - top)
        try:
            x = F.pad(x, pads, mode=boundary)
        except (RuntimeError, NotImplementedError) as e:
            raise CnnlabError(
                f"boundary={boundary!r} cannot pad a {tuple(x.shape[-2:])} image by {pads}: {e}"
            ) from None
        mode = "valid"
    r = region(tuple(x.shape[-2:]), (kh, kw), mode)
    if method == "auto":
        method = _auto(x, k, mode)
    batch = METHODS[method].batch
    assert batch is not None, f"{method} has no batch form; _check allows only batch methods"
    out = batch(x, k, r)
    assert out.shape[-2:] == tuple(e - s for s, e in r), (out.shape, r)
    return out.numpy() if numpy_out else out


def flops(images_shape: tuple[int, ...], kernel_shape: tuple[int, ...]) -> int:
    """Multiply-adds of a direct 'same' batched convolution (for benchmark tables)."""
    n, c, h, w = images_shape
    out_planes = kernel_shape[0] if len(kernel_shape) == 4 else c
    return n * out_planes * (c if len(kernel_shape) == 4 else 1) * h * w * math.prod(kernel_shape[-2:])
