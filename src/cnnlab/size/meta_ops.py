"""Aten ops on meta tensors, each input signature run once (issue 19).

A meta kernel computes nothing but its outputs' shapes, strides and dtypes, and those follow
from the inputs' shapes, strides, dtypes and the other arguments. Yet many of torch's meta
kernels are Python: batch norm's is a decomposition into some 30 reference ops, run 310 times
in a ResNet-152 analysis (benchmarks/results/size_speed_profile_before.json).
``MetaOps`` runs each op once per signature and, for the next call with the same signature,
makes the outputs directly (``torch.empty_strided``, or the input itself for an in-place op).

An op is made directly only where that is exactly what its kernel returns: no output shares
storage with an input (views run their kernel every time: the size tracer follows storages),
no input changed shape (``resize_``), every output lies at the start of its own storage of
the same byte size. Anything else runs its kernel on every call.

The first call of the commonest ops (batch norm, convolution, addmm, mean, add_, relu, cat,
max-pooling) need not
run the kernel either: ``meta_shapes.RULES`` write their outputs out.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cnnlab.size.meta_shapes import RULES

_TENSOR = object()  # tags a tensor's signature, so an int list cannot look like one
_NEW, _SAME, _CONST = 0, 1, 2
_SCALARS = (int, float, bool, complex, type(None))


def signature(args) -> tuple:
    """A hashable stand-in for an op's arguments: what a meta kernel's outputs can depend on.

    One level deep, as aten's schemas are: a Tensor, a list of Tensors (or None) or of ints,
    or a scalar, tagged with its class (1, 1.0 and True are equal keys, not equal arguments)."""
    key = []
    for a in args:
        if isinstance(a, Tensor):
            key.append((_TENSOR, a.shape, a.stride(), a.storage_offset(), a.dtype, a.layout, a.device))
        elif a.__class__ is list or a.__class__ is tuple:
            key.append(tuple([_tensor_signature(b) if isinstance(b, Tensor) else (b.__class__, b) for b in a]))
        else:
            key.append((a.__class__, a))
    return tuple(key)


def _tensor_signature(a: Tensor) -> tuple:
    return (_TENSOR, a.shape, a.stride(), a.storage_offset(), a.dtype, a.layout, a.device)


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
            key = (func, signature(args), (tuple(kwargs), signature(kwargs.values())) if kwargs else ())
            spec = self.specs.get(key, False)
        except (TypeError, RuntimeError):  # an unhashable argument, a sparse tensor's strides: run the kernel
            return func(*args, **kwargs), None
        if spec is None:
            return func(*args, **kwargs), None
        if spec is not False:
            fresh: list[tuple[Tensor, int]] = []
            return _make(spec, args, fresh), fresh
        rule = RULES.get(func)
        out = _apply(rule, args, kwargs) if rule is not None else None
        if out is not None:  # a rule changes no input
            self.specs[key] = _spec_of(out, args, kwargs)
            return out, None
        out = func(*args, **kwargs)
        mutable = func._schema.is_mutable
        if mutable and key != (func, signature(args), (tuple(kwargs), signature(kwargs.values())) if kwargs else ()):
            self.specs[key] = None  # the op changed an input's shape or strides (resize_)
        else:
            self.specs[key] = _spec_of(out, args, kwargs)
        return out, None


def _apply(rule, args, kwargs):
    try:
        return rule(*args, **kwargs)
    except (TypeError, ValueError, IndexError):  # arguments the rule does not expect: the kernel decides
        return None


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


def _spec_of(out, args, kwargs):
    """How to make ``out`` again from the inputs, or None if it cannot be made exactly."""
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
