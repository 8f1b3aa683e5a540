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

import numpy as np
import torch
import torch.nn.functional as F
from scipy.fft import next_fast_len
from torch import Tensor

from cnnlab.conv.methods.flip_and_filter import pad_for_region
from cnnlab.conv.methods.translate_and_scale import add_shifted_copies, blocked
from cnnlab.conv.regions import check_mode, full_shape, region, slices
from cnnlab.errors import CnnlabError

BATCH_METHODS = ("auto", "flip_and_filter", "fft", "translate_and_scale")
BOUNDARIES = ("zero", "reflect", "replicate", "circular")


def _check(x: Tensor, k: Tensor, mode: str, method: str, boundary: str) -> None:
    check_mode(mode)
    if method not in BATCH_METHODS:
        raise CnnlabError(f"unknown method {method!r} for convolve_batch; use one of: {', '.join(BATCH_METHODS)}")
    if boundary not in BOUNDARIES:
        raise CnnlabError(f"unknown boundary {boundary!r}; use one of: {', '.join(BOUNDARIES)}")
    if x.ndim != 4:
        raise CnnlabError(
            f"images must be (N, C, H, W), got shape {tuple(x.shape)}; add axes with x[None] or x[:, None]"
        )
    if x.numel() == 0 or k.numel() == 0:
        raise CnnlabError(f"empty input: images {tuple(x.shape)}, kernel {tuple(k.shape)}")
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


def _flip_and_filter(x: Tensor, k: Tensor, r) -> Tensor:
    c = x.shape[1]
    w = k.flip((-2, -1))
    if k.ndim == 2:
        w, groups = w.expand(c, 1, *k.shape), c  # (C, 1, kh, kw)
    elif k.ndim == 3:
        w, groups = w[:, None], c  # (C, 1, kh, kw)
    else:
        groups = 1  # (O, C, kh, kw)
    return F.conv2d(pad_for_region(x, tuple(k.shape[-2:]), r), w, groups=groups)  # (N, C or O, H', W')


FFT_CHUNK_BYTES = 4 << 20  # transform a few images at a time: ~3× faster than one huge batch (measured)


def _fft(x: Tensor, k: Tensor, r) -> Tensor:
    size = [next_fast_len(n, real=True) for n in full_shape(x.shape[-2:], k.shape[-2:])]
    K = torch.fft.rfft2(k, s=size)  # (..., Hf, Wf//2+1), computed once
    per_image = x[0].numel() // (x.shape[-2] * x.shape[-1]) * size[0] * size[1] * x.element_size()
    step = max(1, FFT_CHUNK_BYTES // per_image)
    outs = []
    for i in range(0, x.shape[0], step):
        X = torch.fft.rfft2(x[i : i + step], s=size)  # (n, C, Hf, Wf//2+1)
        Y = (X[:, None] * K[None]).sum(2) if k.ndim == 4 else X * K  # (n, O, ...) summed over C, or per channel
        outs.append(torch.fft.irfft2(Y, s=size)[(..., *slices(r))])
    return torch.cat(outs)


def _translate_and_scale(x: Tensor, k: Tensor, r) -> Tensor:
    if k.ndim == 4:
        raise CnnlabError(
            "translate_and_scale filters channel by channel; for (O, C, kh, kw) kernels use flip_and_filter or fft"
        )
    n, c, h, w = x.shape
    kh, kw = k.shape[-2:]
    out = x.new_zeros(n, c, h + kh - 1, w + kw - 1)
    grad = torch.is_grad_enabled() and (x.requires_grad or k.requires_grad)
    if k.ndim == 2:
        (add_shifted_copies if grad else blocked)(out, x, k, grad)
    else:  # one kernel per channel
        for ch in range(c):
            (add_shifted_copies if grad else blocked)(out[:, ch], x[:, ch], k[ch], grad)
    return out[(..., *slices(r))]


def _auto(x: Tensor, k: Tensor, mode: str) -> str:
    from cnnlab.conv.auto import calibration_key, load_calibration, predict

    model = load_calibration().get(calibration_key(2, x.dtype, x.device, False))
    kh, kw = k.shape[-2:]
    if model is None:
        return "fft" if kh * kw > 49 else "flip_and_filter"
    # the per-image cost model; the direct library conv is batched efficiently, so compare
    # it on the whole stack against FFT, which scales with the number of image planes
    planes = x.shape[0] * (k.shape[0] * x.shape[1] if k.ndim == 4 else x.shape[1])
    shape_a, shape_b = tuple(x.shape[-2:]), (kh, kw)
    costs = {
        m: predict(model, m, shape_a, shape_b, mode) * planes
        for m in ("fft", "flip_and_filter", "translate_and_scale")
        if m in model["log_seconds"]
    }
    if k.ndim == 4:
        costs.pop("translate_and_scale", None)
    return min(costs, key=costs.get)


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
    x = images if isinstance(images, Tensor) else torch.from_numpy(np.ascontiguousarray(images))
    k = kernel if isinstance(kernel, Tensor) else torch.as_tensor(np.asarray(kernel), device=x.device)
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
    out = {"flip_and_filter": _flip_and_filter, "fft": _fft, "translate_and_scale": _translate_and_scale}[method](
        x, k, r
    )
    assert out.shape[-2:] == tuple(e - s for s, e in r), (out.shape, r)
    return out.numpy() if numpy_out else out


def flops(images_shape: tuple[int, ...], kernel_shape: tuple[int, ...]) -> int:
    """Multiply-adds of a direct 'same' batched convolution (for benchmark tables)."""
    n, c, h, w = images_shape
    out_planes = kernel_shape[0] if len(kernel_shape) == 4 else c
    return n * out_planes * (c if len(kernel_shape) == 4 else 1) * h * w * math.prod(kernel_shape[-2:])
