"""Receptive fields: which input pixels can affect a unit.

Computed from the layers, by following the real forward pass (on meta tensors) and
propagating, per spatial axis, three numbers for every tensor: the field's size r, the
jump j between neighbouring units' fields (in input pixels), and the centre s of unit 0's
field. A conv or pooling op with kernel k, stride t, padding p and dilation d maps them to

    r' = r + (k − 1)·d·j        j' = j·t        s' = s + ((k − 1)·d/2 − p)·j

(Araujo, Norris & Sim, "Computing receptive fields of CNNs", Distill 2019). A transposed
conv divides instead (j' = j/t: neighbouring outputs share inputs), and so does upsampling.
Elementwise ops and concatenation keep the union of their inputs' fields, so branches
(Inception) and residual additions (ResNet) are handled.

Those three numbers describe a typical unit; the box of one unit is exact: every op also
records how an interval of its output positions maps back to its input positions, and
``Field.box`` walks that chain back to the image (edges, padding, the uneven overlap of a
transposed conv and upsampling included). Tested against a gradient-based brute force.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from cnnlab.errors import CnnlabError
from cnnlab.nn.meta import stand_in_input, stand_in_state
from cnnlab.viz.layers import get_layer

Positions = frozenset[int]  # positions along one axis
Back = Callable[[tuple[Positions, ...]], tuple[Positions, ...] | None]  # output positions -> image positions, per axis


@dataclass(frozen=True)
class Field:
    size: tuple[float, ...]  # r per spatial axis (pixels)
    jump: tuple[float, ...]  # j
    start: tuple[float, ...]  # s: centre of unit 0's field, in input coordinates
    back: Back | None = field(default=None, compare=False, repr=False)  # the exact map back to the image

    def box(self, position: tuple[int, ...], input_size: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
        """[lo, hi) per axis of the field of the unit at ``position``, clipped to the input."""
        if self.back is not None:
            seen = self.back(tuple(frozenset((p,)) for p in position))
            if seen is None:  # the unit sees only padding
                return tuple((0, 0) for _ in position)
            return tuple((max(0, min(v)), min(n, max(v) + 1)) for v, n in zip(seen, input_size))
        out = []
        for r, j, s, p, n in zip(self.size, self.jump, self.start, position, input_size):
            centre = s + p * j
            lo = math.ceil(centre - (r - 1) / 2 - 1e-9)
            out.append((max(0, lo), min(n, lo + int(round(r)))))
        return tuple(out)


CONV_LIKE = {"convolution", "max_pool2d_with_indices", "max_pool2d", "avg_pool2d", "max_pool1d", "avg_pool1d", "im2col"}
UPSAMPLE = {
    "upsample_nearest1d",
    "upsample_nearest2d",
    "_upsample_nearest_exact1d",
    "_upsample_nearest_exact2d",
    "upsample_linear1d",
    "upsample_bilinear2d",
}


def _conv_params(op: str, args: tuple, spatial: int):
    """(kernel, stride, padding, dilation, transposed) of a windowed op, or None."""

    def tup(v, default):
        if v is None:
            return (default,) * spatial
        v = list(v) if isinstance(v, (list, tuple)) else [v]
        return tuple(v * spatial if len(v) == 1 else v)

    if op == "convolution":
        return tuple(args[1].shape[2:]), tup(args[3], 1), tup(args[4], 0), tup(args[5], 1), bool(args[6])
    if op in ("max_pool2d_with_indices", "max_pool2d", "max_pool1d"):
        k = tup(args[1], 1)
        stride = tup(args[2] if len(args) > 2 and args[2] else k, 1)
        pad, dil = tup(args[3] if len(args) > 3 else 0, 0), tup(args[4] if len(args) > 4 else 1, 1)
        return k, stride, pad, dil, False
    if op in ("avg_pool2d", "avg_pool1d"):
        k = tup(args[1], 1)
        stride = tup(args[2] if len(args) > 2 and args[2] else k, 1)
        return k, stride, tup(args[3] if len(args) > 3 else 0, 0), (1,) * spatial, False
    if op == "im2col":  # F.unfold: kernel, dilation, padding, stride
        return tup(args[1], 1), tup(args[4], 1), tup(args[3], 0), tup(args[2], 1), False
    return None


# -- one axis: which input positions a set of output positions reads ---------------------
def _taps_back(taps: Callable[[int], list[int]], n_in: int) -> Callable[[Positions], Positions | None]:
    """The in-range inputs that the outputs read, given each output's input positions."""

    def back(outputs: Positions) -> Positions | None:
        return frozenset(i for o in outputs for i in taps(o) if 0 <= i < n_in) or None

    return back


def _window_back(k: int, t: int, p: int, d: int, n_in: int) -> Callable[[Positions], Positions | None]:
    """Output o reads inputs o·t − p + κ·d, κ = 0 … k − 1 (those in the padding are zeros)."""
    return _taps_back(lambda o: [o * t - p + kk * d for kk in range(k)], n_in)


def _transposed_back(k: int, t: int, p: int, d: int, n_in: int) -> Callable[[Positions], Positions | None]:
    """Output o = i·t − p + κ·d for input i and tap κ: the inputs of o are the i that some tap
    reaches (with stride > 1 not every output gets every tap, and some get none)."""
    return _taps_back(lambda o: [v // t for kk in range(k) if (v := o + p - kk * d) % t == 0], n_in)


def _resize_back(op: str, args: tuple, n_in: int, n_out: int) -> Callable[[Positions], Positions | None]:
    """Upsampling (nearest, nearest-exact, (bi)linear) and any other op that changes the size
    without a window: the exact source positions of torch's formulas; unknown ops get the
    adaptive-pool window [floor(o·in/out), ceil((o+1)·in/out))."""
    scale = n_in / n_out
    align = bool(args[2]) if "linear" in op and len(args) > 2 and isinstance(args[2], bool) else False

    def sources(o: int) -> range:
        if "nearest_exact" in op:
            i = min(math.floor((o + 0.5) * scale), n_in - 1)
            return range(i, i + 1)
        if "nearest" in op:
            i = min(math.floor(o * scale), n_in - 1)
            return range(i, i + 1)
        if "linear" in op:
            src = o * (n_in - 1) / (n_out - 1) if align and n_out > 1 else max((o + 0.5) * scale - 0.5, 0.0)
            i0 = min(math.floor(src), n_in - 1)
            return range(i0, i0 + 2 if src > i0 and i0 < n_in - 1 else i0 + 1)  # a zero weight is no connection
        return range(math.floor(o * scale), math.ceil((o + 1) * scale))  # adaptive pooling

    def back(outputs: Positions) -> Positions | None:
        return frozenset(i for o in outputs for i in sources(o)) or None

    return back


def _chain(axes: list[Callable[[Positions], Positions | None]], prev: Back) -> Back:
    def back(sets: tuple[Positions, ...]) -> tuple[Positions, ...] | None:
        mapped = [f(v) for f, v in zip(axes, sets)]
        known = [m for m in mapped if m is not None]
        return None if len(known) < len(mapped) else prev(tuple(known))

    return back


def _union(backs: list[Back]) -> Back:
    """Branches joined (a residual add, a concatenation): the positions any of them reads
    (per axis, so the union's box is exact)."""

    def back(sets: tuple[Positions, ...]) -> tuple[Positions, ...] | None:
        found = [h for b in backs if (h := b(sets)) is not None]
        return tuple(frozenset().union(*(h[i] for h in found)) for i in range(len(sets))) if found else None

    return back


def _identity(sets: tuple[Positions, ...]) -> tuple[Positions, ...]:
    return sets


class _Propagate(TorchDispatchMode):
    def __init__(self, image: Tensor) -> None:
        super().__init__()
        n = image.ndim - 2
        self.fields: dict[int, Field] = {id(image): Field((1.0,) * n, (1.0,) * n, (0.0,) * n, _identity)}
        self.spatial = n
        self.input_size = tuple(image.shape[2:])
        self.keep: list[Tensor] = [image]  # keep tensors alive so ids stay unique

    def field_of(self, t: Tensor) -> Field | None:
        return self.fields.get(id(t))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        op = func.__name__.split(".")[0]
        tensors = [t for t in tree_flatten(args)[0] if isinstance(t, Tensor) and id(t) in self.fields]
        if not tensors:
            return out
        first = next((t for t in tree_flatten(out)[0] if isinstance(t, Tensor)), None)
        if first is None or first.ndim != self.spatial + 2:
            return out
        out_size = tuple(first.shape[2:])
        params = _conv_params(op, args, self.spatial) if op in CONV_LIKE else None
        if params is not None and op != "im2col":
            new = self._windowed(self.fields[id(tensors[0])], tuple(tensors[0].shape[2:]), *params)
        elif op in UPSAMPLE:
            new = self._resized(op, args, self.fields[id(tensors[0])], tuple(tensors[0].shape[2:]), out_size)
        elif op == "slice" and tensors[0] is args[0]:  # a crop (x[..., a:b, c:d], CentreCrop, narrow)
            new = self._sliced(args, self.fields[id(tensors[0])], tuple(tensors[0].shape[2:]))
        else:
            new = self._elementwise(op, args, tensors, out_size)
        for t in tree_flatten(out)[0]:
            if isinstance(t, Tensor) and t.ndim == self.spatial + 2:
                self.fields[id(t)] = new
                self.keep.append(t)
        return out

    def _windowed(self, f: Field, in_size, k, stride, pad, dil, transposed: bool) -> Field:
        if transposed:  # each output unit sees ~(k − 1)·d/t + 1 inputs, t outputs per input
            axes = [_transposed_back(*a, n) for a, n in zip(zip(k, stride, pad, dil), in_size)]
            return Field(
                tuple(r + (kk - 1) * d / t * j for r, kk, d, t, j in zip(f.size, k, dil, stride, f.jump)),
                tuple(j / t for j, t in zip(f.jump, stride)),
                tuple(
                    s + (p - (kk - 1) * d / 2) / t * j
                    for s, kk, d, p, t, j in zip(f.start, k, dil, pad, stride, f.jump)
                ),
                _chain(axes, f.back or _identity),
            )
        axes = [_window_back(*a, n) for a, n in zip(zip(k, stride, pad, dil), in_size)]
        return Field(
            tuple(r + (kk - 1) * d * j for r, kk, d, j in zip(f.size, k, dil, f.jump)),
            tuple(j * t for j, t in zip(f.jump, stride)),
            tuple(s + ((kk - 1) * d / 2 - p) * j for s, kk, d, p, j in zip(f.start, k, dil, pad, f.jump)),
            _chain(axes, f.back or _identity),
        )

    def _sliced(self, args, f: Field, in_size) -> Field:
        """aten.slice(x, dim, start, end, step) on a spatial axis: output o is input start + o·step."""
        dim = args[1] if len(args) > 1 else 0
        axis = (dim % (self.spatial + 2)) - 2  # the spatial axis, or < 0 for batch and channels
        if axis < 0:
            return Field(f.size, f.jump, f.start, f.back or _identity)
        bounds = slice(*(args[2:5] if len(args) > 2 else ()))
        first, _, step = bounds.indices(in_size[axis])
        axes: list[Callable[[Positions], Positions | None]] = [lambda v: v] * self.spatial
        axes[axis] = _taps_back(lambda o: [first + o * step], in_size[axis])
        pick = lambda t, v: tuple(v if i == axis else x for i, x in enumerate(t))  # noqa: E731
        return Field(
            f.size,
            pick(f.jump, f.jump[axis] * step),
            pick(f.start, f.start[axis] + first * f.jump[axis]),
            _chain(axes, f.back or _identity),
        )

    def _resized(self, op: str, args, f: Field, in_size, out_size) -> Field:
        axes = [_resize_back(op, args, n, m) for n, m in zip(in_size, out_size)]
        linear = "linear" in op
        return Field(
            tuple(r + (j if linear else 0) for r, j in zip(f.size, f.jump)),
            tuple(j * n / m for j, n, m in zip(f.jump, in_size, out_size)),
            tuple(s + (0.5 * n / m - 0.5) * j for s, j, n, m in zip(f.start, f.jump, in_size, out_size)),
            _chain(axes, f.back or _identity),
        )

    def _elementwise(self, op: str, args, tensors: list[Tensor], out_size) -> Field:
        """Elementwise ops, cat, views, and reductions to size 1: the union of the inputs'
        fields, each mapped by its own size (broadcast size-1 axes, resized axes)."""
        ins = [self.fields[id(t)] for t in tensors]
        backs = []
        for t, f in zip(tensors, ins):
            in_size = tuple(t.shape[2:])
            axes = [
                (lambda v: v)
                if n == m
                else (lambda v: frozenset((0,)))
                if n == 1
                else (lambda v, n=n: frozenset(range(n)))
                if m == 1
                else _resize_back(op, args, n, m)
                for n, m in zip(in_size, out_size)
            ]
            backs.append(_chain(axes, f.back or _identity))
        size = tuple(max(f.size[i] + 2 * abs(f.start[i] - ins[0].start[i]) for f in ins) for i in range(self.spatial))
        return Field(size, ins[0].jump, ins[0].start, _union(backs) if len(backs) > 1 else backs[0])


def receptive_fields(
    model: nn.Module, input_shape: tuple[int, ...], layers: list[str], spatial_only: bool = False
) -> dict[str, Field]:
    """The receptive field of units of each named layer, from one traced pass. A layer whose
    output is not spatial (fully connected) is an error, or left out with ``spatial_only``.

    >>> from cnnlab.models import create
    >>> fields = receptive_fields(create("lenet5"), (1, 28, 28), ["C1", "C3"])
    >>> fields["C1"].size, fields["C3"].size, fields["C3"].jump   # C3 units see 14×14 pixels, 2 apart
    ((5.0, 5.0), (14.0, 14.0), (2.0, 2.0))
    """
    outputs: dict[str, Tensor] = {}
    handles = [
        get_layer(model, name).register_forward_hook(functools.partial(_keep_output, outputs, name)) for name in layers
    ]
    state, _ = stand_in_state(model)
    image = stand_in_input(model, tuple(input_shape))
    was = model.training
    model.eval()
    try:
        mode = _Propagate(image)
        with torch.no_grad(), mode:
            torch.func.functional_call(model, state, (image,), strict=False)
    except (RuntimeError, ValueError, TypeError, IndexError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CnnlabError(
            f"{type(model).__name__} cannot run on an input of shape {tuple(input_shape)}: {first}; "
            "pass an input shape C,H,W that fits the model"
        ) from None
    finally:
        model.train(was)
        for h in handles:
            h.remove()
    result = {}
    for name in layers:
        f = mode.field_of(outputs[name]) if name in outputs else None
        if f is None or outputs[name].ndim != len(input_shape) + 1:
            if spatial_only:
                continue
            shape = tuple(outputs[name].shape[1:]) if name in outputs else "never computed"
            raise CnnlabError(
                f"layer {name!r} has no spatial receptive field (its output is {shape}); pick a conv or pooling layer"
            )
        result[name] = f
    return result


def _keep_output(outputs: dict[str, Tensor], name: str, module: nn.Module, inputs: object, output: object) -> None:
    """A forward hook's body: keep the layer's output (the first, for a layer returning a
    tuple); a layer whose output is no tensor has no field (``receptive_fields`` says so)."""
    out = output[0] if isinstance(output, tuple) else output
    if isinstance(out, Tensor):
        outputs[name] = out
