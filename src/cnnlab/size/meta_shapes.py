"""The outputs of the most common aten ops on meta tensors, written out (issue 19).

``MetaOps`` runs an op's meta kernel once per input signature; these rules stand in for that
first run where torch's kernel is slow Python (batch norm's decomposition, ``mean``,
``addmm``, the shape checks of convolution, max-pooling and ``cat``). Each covers the plain
case only (contiguous inputs of one floating dtype, shapes that fit) and returns None for
anything else, so the kernel decides and raises its own error. tests/size/test_meta_shapes.py checks every rule against the
kernel it replaces on random arguments: shapes, strides, dtypes and storage sizes.
"""

from __future__ import annotations

import torch
from torch import Tensor

aten = torch.ops.aten
_FLOATS = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
# float32 for the half types, as torch._prims_common.get_computation_dtype
_COMPUTATION_DTYPE = {torch.float16: torch.float32, torch.bfloat16: torch.float32}


def _plain(*tensors: Tensor | None) -> bool:
    """Every tensor given is a contiguous floating meta tensor of the first one's dtype."""
    dtype = next(t.dtype for t in tensors if t is not None)
    return all(
        t is None or (t.device.type == "meta" and t.dtype == dtype and t.dtype in _FLOATS and t.is_contiguous())
        for t in tensors
    )


def _empty(shape, like: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    return torch.empty(shape, dtype=dtype or like.dtype, device="meta")


def batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps):
    """``native_batch_norm`` as torch's decomposition (``native_batch_norm_helper``) makes it
    off the CPU: the normalized input, shaped and typed as the input; the per-channel mean
    and 1/std, (C,) in the computation dtype."""
    if input.dim() < 2 or not _plain(input):
        return None
    c = input.shape[1]
    for t in (weight, bias, running_mean, running_var):
        if t is not None and (t.device.type != "meta" or t.shape != (c,) or t.dtype not in _FLOATS):
            return None
    if not training and (running_mean is None or running_var is None):
        return None
    if training and running_var is not None and input.numel() <= c:
        return None  # one value per channel: the kernel's unbiased variance divides by zero
    out = _empty(input.shape, input)
    if out.stride() != input.stride():  # contiguous, but strided oddly along a size-1 axis
        return None
    stats = _COMPUTATION_DTYPE.get(input.dtype, input.dtype)
    return out, _empty((c,), input, stats), _empty((c,), input, stats)


def convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    """(N, C_out, *spatial), contiguous: each spatial size ⌊(n + 2p − d(k−1) − 1)/s⌋ + 1, or
    (n − 1)s − 2p + d(k−1) + output_padding + 1 transposed."""
    nd = weight.dim() - 2
    if nd < 1 or input.dim() != weight.dim() or not _plain(input, weight, bias) or groups < 1:
        return None
    if not all(len(v) == nd for v in (stride, padding, dilation, output_padding)):
        return None
    k = weight.shape[2:]
    if transposed:
        if input.shape[1] != weight.shape[0] or weight.shape[0] % groups:
            return None
        channels = weight.shape[1] * groups
        sizes = [
            (n - 1) * s - 2 * p + d * (kk - 1) + op + 1
            for n, s, p, d, kk, op in zip(input.shape[2:], stride, padding, dilation, k, output_padding)
        ]
        if any(op >= max(s, d) for op, s, d in zip(output_padding, stride, dilation)):
            return None
    else:
        if input.shape[1] != weight.shape[1] * groups or weight.shape[0] % groups or any(output_padding):
            return None
        channels = weight.shape[0]
        if any(n + 2 * p < d * (kk - 1) + 1 for n, p, d, kk in zip(input.shape[2:], padding, dilation, k)):
            return None  # the kernel is larger than the padded input
        sizes = [
            (n + 2 * p - d * (kk - 1) - 1) // s + 1
            for n, s, p, d, kk in zip(input.shape[2:], stride, padding, dilation, k)
        ]
    if input.shape[1] == 0 or min(sizes) < 1 or min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        return None
    if bias is not None and bias.shape != (channels,):
        return None
    return _empty((input.shape[0], channels, *sizes), input)


def addmm(bias, mat1, mat2, *, beta=1, alpha=1):
    """(M, N) from (M, K) @ (K, N), plus a bias of (N,) or (M, N)."""
    if mat1.dim() != 2 or mat2.dim() != 2 or mat1.shape[1] != mat2.shape[0]:
        return None
    m, n = mat1.shape[0], mat2.shape[1]
    if bias.shape not in ((n,), (m, n)) or not _plain(bias) or mat1.dtype != bias.dtype or mat2.dtype != bias.dtype:
        return None
    if mat1.device.type != "meta" or mat2.device.type != "meta":
        return None
    return _empty((m, n), bias)


def mean(input, dim, keepdim=False, *, dtype=None):
    """``mean.dim``: the reduced axes dropped (kept as 1 with ``keepdim``)."""
    if dtype is not None or dim is None or not dim or not _plain(input) or input.dim() == 0:
        return None
    axes = {d % input.dim() for d in dim if -input.dim() <= d < input.dim()}
    if len(axes) != len(dim):
        return None
    shape = [1 if i in axes else n for i, n in enumerate(input.shape) if keepdim or i not in axes]
    return _empty(shape, input)


def add_(input, other, *, alpha=1):
    """An in-place add of a tensor of the same shape and dtype, or of a 0-d one (a counter's
    ``+= 1``): the input itself."""
    if not isinstance(other, Tensor) or other.dtype != input.dtype or input.device.type != "meta":
        return None
    if input.dtype not in (*_FLOATS, torch.int64, torch.int32) or not (
        type(alpha) is int or (type(alpha) is float and input.dtype in _FLOATS)
    ):
        return None
    if not input.is_contiguous() or other.device.type != "meta":
        return None
    if other.shape != input.shape and other.dim() != 0:
        return None
    if other is not input and other.untyped_storage()._cdata == input.untyped_storage()._cdata:
        return None  # a partial overlap is the kernel's to refuse
    return input


def relu(input):
    """Elementwise: the input's shape and dtype, contiguous."""
    return _empty(input.shape, input) if _plain(input) else None


def relu_(input):
    """In place: the input itself."""
    return input if input.device.type == "meta" and input.dtype in _FLOATS else None


def cat(tensors, dim=0):
    """Contiguous tensors of one dtype joined along ``dim``: its sizes summed, the rest equal."""
    if not tensors or not _plain(*tensors) or any(t.numel() == 0 for t in tensors):
        return None
    first = tensors[0]
    nd = first.dim()
    if nd == 0 or not -nd <= dim < nd or any(t.dim() != nd for t in tensors):
        return None
    dim %= nd
    rest = [n for i, n in enumerate(first.shape) if i != dim]
    if any([n for i, n in enumerate(t.shape) if i != dim] != rest for t in tensors):
        return None
    shape = list(first.shape)
    shape[dim] = sum(t.shape[dim] for t in tensors)
    return _empty(shape, first)


def _pair(v, default=None) -> list[int] | None:
    v = list(v) if isinstance(v, (list, tuple)) else [v]
    if not v and default is not None:
        return default
    return v * 2 if len(v) == 1 else v if len(v) == 2 else None


def max_pool2d_with_indices(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    """(…, H_out, W_out) twice (values, int64 indices): each ⌊(n + 2p − d(k−1) − 1 (+ s − 1 with
    ceil_mode))/s⌋ + 1, less one where a ceil_mode window would start in the right padding."""
    if input.dim() not in (3, 4) or not _plain(input) or input.numel() == 0:
        return None
    if input.dim() == 4 and input.is_contiguous(memory_format=torch.channels_last):
        return None  # contiguous both ways (a size-1 axis): the kernel's layout rule decides
    k = _pair(kernel_size)
    s = _pair(stride, default=k)
    p, d = _pair(padding), _pair(dilation)
    if k is None or s is None or p is None or d is None or min(k) < 1 or min(s) < 1 or min(d) < 1 or min(p) < 0:
        return None
    sizes = []
    for n, kk, ss, pp, dd in zip(input.shape[-2:], k, s, p, d):
        if pp > (dd * (kk - 1) + 1) // 2 or pp > kk // 2:
            return None  # padding over half the window: the kernel's error
        out = (n + 2 * pp - dd * (kk - 1) - 1 + (ss - 1 if ceil_mode else 0)) // ss + 1
        if ceil_mode and (out - 1) * ss >= n + pp:
            out -= 1
        if out < 1:
            return None
        sizes.append(out)
    shape = (*input.shape[:-2], *sizes)
    return _empty(shape, input), _empty(shape, input, torch.int64)


RULES = {
    aten.native_batch_norm.default: batch_norm,
    aten.convolution.default: convolution,
    aten.addmm.default: addmm,
    aten.mean.dim: mean,
    aten.add_.Tensor: add_,
    aten.relu.default: relu,
    aten.relu_.default: relu_,
    aten.cat.default: cat,
    aten.max_pool2d_with_indices.default: max_pool2d_with_indices,
}
