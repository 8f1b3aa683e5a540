"""Aten ops on meta tensors, each input signature run once (issue 19).

A meta kernel computes nothing but its outputs' shapes, strides and dtypes, and those follow
from the inputs' shapes, strides, dtypes and the other arguments. Yet many of torch's meta
kernels are Python: batch norm's is a decomposition into some 30 reference ops, 2–5 ms a call
on a 2-core CPU, 20× a convolution's; ResNet-152 calls it 310 times in a size analysis.
``MetaOps`` runs each op once per signature and, for the next call with the same signature,
makes the outputs directly (``torch.empty_strided``, or the input itself for an in-place op).

An op is made directly only where that is exactly what its kernel returns: no output shares
storage with an input (views run their kernel every time: the size tracer follows storages),
no input changed shape (``resize_``), every output lies at the start of its own storage of
the same byte size. Anything else runs its kernel on every call.

Batch norm's first call per signature uses ``batch_norm_outputs``: the outputs of torch's
meta decomposition written out (tests/size/test_meta_ops.py checks them against it).
"""

from __future__ import annotations

import torch
from torch import Tensor

_TENSOR = object()  # tags a tensor's signature, so an int list cannot look like one
_NEW, _SAME, _CONST = 0, 1, 2
_SCALARS = (int, float, bool, complex, type(None))
# float32 for the half types, as torch._prims_common.get_computation_dtype
_COMPUTATION_DTYPE = {torch.float16: torch.float32, torch.bfloat16: torch.float32}


def signature(a):
    """A hashable stand-in for an op argument: what a meta kernel's outputs can depend on."""
    if isinstance(a, Tensor):
        return (_TENSOR, a.shape, a.stride(), a.storage_offset(), a.dtype, a.layout, a.device)
    if isinstance(a, (list, tuple)):
        return tuple([signature(b) for b in a])
    return (a.__class__, a)  # 1, 1.0 and True are equal keys, but not equal arguments


def _tensors(args) -> list[Tensor]:
    out = []
    for a in args:
        if isinstance(a, Tensor):
            out.append(a)
        elif isinstance(a, (list, tuple)):
            out.extend(_tensors(a))
    return out


class MetaOps:
    """``run(func, args, kwargs)`` -> (outputs, fresh): ``fresh`` lists (tensor, storage bytes)
    for outputs made here, each on a storage of its own; None where the kernel ran."""

    def __init__(self) -> None:
        self.specs: dict = {}  # signature -> how to make the outputs, or None: run the kernel

    def run(self, func, args: tuple, kwargs: dict):
        try:
            key = (func, signature(args), signature(tuple(kwargs.items())) if kwargs else ())
            spec = self.specs.get(key, False)
        except TypeError:  # an unhashable argument: run the kernel
            return func(*args, **kwargs), None
        if spec is None:
            return func(*args, **kwargs), None
        if spec is not False:
            fresh: list[tuple[Tensor, int]] = []
            return _make(spec, args, fresh), fresh
        out = batch_norm_outputs(*args, **kwargs) if func is _BATCH_NORM else None
        if out is None:
            out = func(*args, **kwargs)
        self.specs[key] = _spec_of(out, args, kwargs, key)
        return out, None


def _make(spec, args, fresh):
    kind = spec[0]
    if kind == _NEW:
        _, size, stride, dtype, nbytes = spec
        t = torch.empty_strided(size, stride, dtype=dtype, device="meta")
        fresh.append((t, nbytes))
        return t
    if kind == _SAME:
        return _tensors(args)[spec[1]]
    if kind == _CONST:
        return spec[1]
    container, items = spec[1], spec[2]
    return container(_make(s, args, fresh) for s in items)


_CONTAINER = 3


def _spec_of(out, args, kwargs, key):
    """How to make ``out`` again from the inputs, or None if it cannot be made exactly."""
    if signature(args) != key[1] or (kwargs and signature(tuple(kwargs.items())) != key[2]):
        return None  # the op changed an input's shape or strides
    inputs = _tensors(args)
    storages = {t.untyped_storage()._cdata for t in inputs + _tensors(kwargs.values())}
    return _leaf_spec(out, inputs, storages)


def _leaf_spec(o, inputs: list[Tensor], storages: set[int]):
    # a plain function, not a closure: a recursive closure is a reference cycle that would keep
    # the inputs alive until the garbage collector runs, and the tracer follows their lifetimes
    if isinstance(o, (list, tuple)):
        items = [_leaf_spec(x, inputs, storages) for x in o]
        return None if any(s is None for s in items) else (_CONTAINER, type(o), tuple(items))
    if not isinstance(o, Tensor):
        return (_CONST, o) if isinstance(o, _SCALARS) else None
    for i, t in enumerate(inputs):
        if o is t:
            return (_SAME, i)
    s = o.untyped_storage()
    if s._cdata in storages or o.layout != torch.strided or o.device.type != "meta" or o.storage_offset() != 0:
        return None
    storages.add(s._cdata)  # a second output on this storage cannot be made on its own
    made = torch.empty_strided(o.shape, o.stride(), dtype=o.dtype, device="meta")
    if made.untyped_storage().nbytes() != s.nbytes():
        return None
    return (_NEW, tuple(o.shape), o.stride(), o.dtype, s.nbytes())


_BATCH_NORM = torch.ops.aten.native_batch_norm.default


def batch_norm_outputs(
    input: Tensor,
    weight: Tensor | None,
    bias: Tensor | None,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    training: bool,
    momentum: float,
    eps: float,
) -> tuple[Tensor, Tensor, Tensor] | None:
    """``aten.native_batch_norm``'s outputs on meta tensors, as torch's decomposition
    (``torch._decomp.decompositions.native_batch_norm_helper``) makes them off the CPU: the
    normalized input, shaped, laid out and typed as the input; the per-channel mean and
    1/std, (C,) in the computation dtype. None where the kernel must decide (a layout or
    dtype not covered here, mismatched shapes: let it raise its own error)."""
    if (
        input.device.type != "meta"
        or input.dim() < 2
        or input.dtype not in (*_COMPUTATION_DTYPE, torch.float32, torch.float64)
    ):
        return None
    if not input.is_contiguous():
        return None
    c = input.shape[1]
    for t in (weight, bias, running_mean, running_var):
        if t is not None and (t.dim() != 1 or t.shape[0] != c or t.device.type != "meta"):
            return None
    if not training and (running_mean is None or running_var is None):
        return None
    stats = _COMPUTATION_DTYPE.get(input.dtype, input.dtype)
    out = torch.empty(input.shape, dtype=input.dtype, device="meta")
    if out.stride() != input.stride():  # contiguous, but strided oddly along a size-1 axis
        return None
    return out, torch.empty((c,), dtype=stats, device="meta"), torch.empty((c,), dtype=stats, device="meta")
