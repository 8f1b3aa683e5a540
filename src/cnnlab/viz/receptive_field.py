"""Receptive fields: which input pixels can affect a unit.

Computed from the layers, by following the real forward pass (on meta tensors) and
propagating, per spatial axis, three numbers for every tensor: the field's size r, the
jump j between neighbouring units' fields (in input pixels), and the centre s of unit 0's
field. A conv or pooling op with kernel k, stride t, padding p and dilation d maps them to

    r' = r + (k − 1)·d·j        j' = j·t        s' = s + ((k − 1)·d/2 − p)·j

(Araujo, Norris & Sim, "Computing receptive fields of CNNs", Distill 2019). Elementwise ops
and concatenation keep the union of their inputs' fields, so branches (Inception) and
residual additions (ResNet) are handled. Tested against a gradient-based brute force.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from cnnlab.viz.layers import get_layer


@dataclass(frozen=True)
class Field:
    size: tuple[float, ...]  # r per spatial axis (pixels)
    jump: tuple[float, ...]  # j
    start: tuple[float, ...]  # s: centre of unit 0's field, in input coordinates

    def box(self, position: tuple[int, ...], input_size: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
        """[lo, hi) per axis of the field of the unit at ``position``, clipped to the input."""
        out = []
        for r, j, s, p, n in zip(self.size, self.jump, self.start, position, input_size):
            centre = s + p * j
            lo = math.ceil(centre - (r - 1) / 2 - 1e-9)
            out.append((max(0, lo), min(n, lo + int(round(r)))))
        return tuple(out)


CONV_LIKE = {"convolution", "max_pool2d_with_indices", "max_pool2d", "avg_pool2d", "max_pool1d", "avg_pool1d", "im2col"}


def _conv_params(op: str, args: tuple, spatial: int):
    def tup(v, default):
        if v is None:
            return (default,) * spatial
        v = list(v) if isinstance(v, (list, tuple)) else [v]
        return tuple(v * spatial if len(v) == 1 else v)

    if op == "convolution":
        w = args[1]
        transposed = args[6]
        if transposed:
            return None
        return tuple(w.shape[2:]), tup(args[3], 1), tup(args[4], 0), tup(args[5], 1)
    if op in ("max_pool2d_with_indices", "max_pool2d", "max_pool1d"):
        k = tup(args[1], 1)
        stride = tup(args[2] if len(args) > 2 and args[2] else k, 1)
        return k, stride, tup(args[3] if len(args) > 3 else 0, 0), tup(args[4] if len(args) > 4 else 1, 1)
    if op in ("avg_pool2d", "avg_pool1d"):
        k = tup(args[1], 1)
        stride = tup(args[2] if len(args) > 2 and args[2] else k, 1)
        return k, stride, tup(args[3] if len(args) > 3 else 0, 0), (1,) * spatial
    if op == "im2col":  # F.unfold: kernel, dilation, padding, stride
        return tup(args[1], 1), tup(args[4], 1), tup(args[3], 0), tup(args[2], 1)
    return None


class _Propagate(TorchDispatchMode):
    def __init__(self, image: Tensor) -> None:
        super().__init__()
        n = image.ndim - 2
        self.fields: dict[int, Field] = {id(image): Field((1.0,) * n, (1.0,) * n, (0.0,) * n)}
        self.spatial = n
        self.input_size = tuple(image.shape[2:])
        self.keep: list[Tensor] = [image]  # keep tensors alive so ids stay unique

    def field_of(self, t: Tensor) -> Field | None:
        return self.fields.get(id(t))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        op = func.__name__.split(".")[0]
        ins = [self.fields[id(t)] for t in tree_flatten(args)[0] if isinstance(t, Tensor) and id(t) in self.fields]
        if not ins:
            return out
        params = _conv_params(op, args, self.spatial) if op in CONV_LIKE else None
        if params is not None:
            (k, stride, pad, dil), f = params, ins[0]
            new = Field(
                tuple(r + (kk - 1) * d * j for r, kk, d, j in zip(f.size, k, dil, f.jump)),
                tuple(j * t for j, t in zip(f.jump, stride)),
                tuple(s + ((kk - 1) * d / 2 - p) * j for s, kk, d, p, j in zip(f.start, k, dil, pad, f.jump)),
            )
        else:  # elementwise, cat, views: the union of the inputs' fields
            size = tuple(
                max(f.size[i] + 2 * abs(f.start[i] - ins[0].start[i]) for f in ins) for i in range(self.spatial)
            )
            new = Field(size, ins[0].jump, ins[0].start)
        for t in tree_flatten(out)[0]:
            if isinstance(t, Tensor) and t.ndim == self.spatial + 2:
                self.fields[id(t)] = new
                self.keep.append(t)
        return out


def receptive_fields(
    model: nn.Module, input_shape: tuple[int, ...], layers: list[str], spatial_only: bool = False
) -> dict[str, Field]:
    """The receptive field of units of each named layer, from one traced pass. A layer whose
    output is not spatial (fully connected) is an error, or left out with ``spatial_only``."""
    outputs: dict[str, Tensor] = {}
    handles = [
        get_layer(model, name).register_forward_hook(
            lambda m, i, o, name=name: outputs.__setitem__(name, o[0] if isinstance(o, tuple) else o)
        )
        for name in layers
    ]
    state = {
        k: torch.empty_like(v, device="meta")
        for k, v in {**dict(model.named_parameters()), **dict(model.named_buffers())}.items()
    }
    image = torch.zeros(1, *input_shape, device="meta")
    was = model.training
    model.eval()
    try:
        mode = _Propagate(image)
        with torch.no_grad(), mode:
            torch.func.functional_call(model, state, (image,), strict=False)
    finally:
        model.train(was)
        for h in handles:
            h.remove()
    result = {}
    for name in layers:
        f = mode.field_of(outputs[name])
        if f is None or outputs[name].ndim != len(input_shape) + 1:
            if spatial_only:
                continue
            from cnnlab.errors import CnnlabError

            raise CnnlabError(
                f"layer {name!r} has no spatial receptive field (its output is {tuple(outputs[name].shape[1:])}); pick a conv or pooling layer"
            )
        result[name] = f
    return result
