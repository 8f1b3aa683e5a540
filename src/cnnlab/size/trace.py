"""Run a model's forward pass on meta tensors and record what every layer does.

Three things are watched at once:

* module hooks keep a stack of the modules being called, so every aten op is attributed to
  the innermost named module (a module called twice gets two rows);
* a ``TorchDispatchMode`` sees every aten op, including functional ones (``F.conv2d``,
  ``@``, a residual ``+``) that module-hook counters miss; and tracks live activation
  storages (weakref finalizers) for the inference memory peak;
* ``saved_tensors_hooks`` record what autograd stores for the backward pass (training).

Meta tensors have shapes and no data, so analysing ResNet-152 costs no arithmetic. A model
whose forward needs real values (data-dependent control flow) is traced on the CPU instead.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

import cnnlab.size.rules as rules
from cnnlab.nn.meta import stand_in_input, stand_in_state


@dataclass
class Row:
    name: str  # the module's dotted name, "(model)" for the root
    kind: str  # conv, fully connected, pooling, locally connected, matmul, …
    module: nn.Module | None = None  # the layer module, if the row is one
    in_shape: tuple[int, ...] = ()  # per example
    out_shape: tuple[int, ...] = ()  # per example
    macs: int = 0  # over the traced batch
    ops: list[str] = field(default_factory=list)  # aten ops folded into this row
    params: dict[str, int] = field(default_factory=dict)  # parameter name -> numel, first used here
    shared: dict[str, int] = field(default_factory=dict)  # parameters used here but counted in an earlier row
    saved_bytes: int = 0  # activations autograd keeps for backward (training pass)
    live_bytes: int = 0  # activation bytes alive when this layer finished (inference pass)
    has_bias: bool = False  # a functional op's own bias (conv bias, addmm)
    window: int = 0  # a functional pooling op's F² (0: from the shapes)


def _storage_key(t: Tensor) -> int:
    return t.untyped_storage()._cdata


class _Tracer(TorchDispatchMode):
    def __init__(self, model: nn.Module, params: dict[int, str], batch: int) -> None:
        super().__init__()
        self.params = params  # id(tensor) -> parameter name
        self.batch = batch
        self.rows: list[Row] = []
        self.stack: list[tuple[str, nn.Module, Row | None]] = []  # (name, module, row it opened)
        self.names = {m: n for n, m in model.named_modules()}
        self.calls: dict[str, int] = {}
        self.pending_ops: list[str] = []  # ops before the first row
        self.pending_params: dict[str, int] = {}
        self.seen_params: set[str] = set()
        self.live = 0
        self.peak = 0
        self.refs: dict[int, list] = {}  # storage key -> [bytes, live tensor count]
        self.derived: dict[int, dict[str, int]] = {}  # id(tensor computed from weights alone) -> those weights
        self.keep: list[Tensor] = []  # keeps those tensors alive, so their ids stay unique

    # -- module stack -----------------------------------------------------------------
    def push(self, module: nn.Module, inputs) -> None:
        name = self.names.get(module, type(module).__name__) or "(model)"
        self.calls[name] = self.calls.get(name, 0) + 1
        kind = rules.layer_type(module)
        row = None
        if kind is not None and not any(r is not None for _, _, r in self.stack):  # outermost layer module wins
            label = name if self.calls[name] == 1 else f"{name} (call {self.calls[name]})"
            x = next((t for t in tree_flatten(inputs)[0] if isinstance(t, Tensor)), None)
            row = Row(label, kind, module, in_shape=per_example(tuple(x.shape), self.batch) if x is not None else ())
            self._open(row)
        self.stack.append((name, module, row))

    def pop(self, output) -> None:
        name, module, row = self.stack.pop()
        if row is not None:
            y = next((t for t in tree_flatten(output)[0] if isinstance(t, Tensor)), None)
            if y is not None:
                row.out_shape = per_example(tuple(y.shape), self.batch)
            row.live_bytes = self.live

    def _open(self, row: Row) -> None:
        if not self.rows:
            row.ops += self.pending_ops
            row.params.update(self.pending_params)
        self.rows.append(row)

    def current_layer(self) -> Row | None:
        for _, _, row in reversed(self.stack):
            if row is not None:
                return row
        return None

    # -- ops --------------------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        op = func.__name__.split(".")[0]
        inputs = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, Tensor)]
        weights = [self.weight_of(t) for t in inputs]  # the parameters each input is (a view of)
        used = {name: numel for names in weights if names for name, numel in names.items()}
        activations = [t for t, names in zip(inputs, weights) if not names]
        kind = rules.op_type(op)
        if kind is None and used and not activations:
            # an op on weights alone (F.linear's transpose, a view, a cast): the weights belong
            # to the op that uses its result, so carry them to that op
            for t in tree_flatten(out)[0]:
                if isinstance(t, Tensor):
                    self.derived[id(t)] = used
                    self.keep.append(t)
            return out
        if op in ("detach", "alias", "lift_fresh"):
            return out
        layer = self.current_layer()
        if layer is None and kind is not None:  # a functional layer op: a row of its own
            layer = self._functional_row(op, kind, args, activations)
        target = layer if layer is not None else (self.rows[-1] if self.rows else None)
        if target is not None and layer is not None:
            target.macs += rules.op_macs(op, args, out) if kind else 0
            first = next((t for t in tree_flatten(out)[0] if isinstance(t, Tensor)), None)
            if layer.module is None and first is not None and kind is not None:
                layer.out_shape = per_example(tuple(first.shape), self.batch)
        if target is None:
            self.pending_ops.append(op)
        else:
            target.ops.append(op)
        for name, numel in used.items():
            bucket = target.params if target is not None else self.pending_params
            if name in self.seen_params:
                if target is not None and name not in target.params:
                    target.shared[name] = numel
            else:
                self.seen_params.add(name)
                bucket[name] = numel
            if target is not None and target.module is None and name.endswith("bias") and kind is None:
                target.has_bias = True  # a bias added by its own op (mm, then add)
        self._track_outputs(out, args)
        if target is not None and layer is not None:
            target.live_bytes = max(target.live_bytes, self.live)
        return out

    def weight_of(self, t: Tensor) -> dict[str, int] | None:
        name = self.params.get(id(t))
        return {name: t.numel()} if name is not None else self.derived.get(id(t))

    def _functional_row(self, op: str, kind: str, args: tuple, activations: list[Tensor]) -> Row:
        """A row for a layer op with no layer module around it (``F.conv2d``, ``x @ W``, the
        products inside attention or an LSTM cell), named by its owner and kind, with
        ``(call N)`` for repeats."""
        owner = self.stack[-1][0] if self.stack else "(model)"
        label = f"{owner}.{kind if kind in ('conv', 'matmul') else op}"
        self.calls[label] = self.calls.get(label, 0) + 1
        name = label if self.calls[label] == 1 else f"{label} (call {self.calls[label]})"
        x = activations[0] if activations else None
        row = Row(
            name,
            "fully connected" if kind == "matmul" else kind,
            in_shape=per_example(tuple(x.shape), self.batch) if x is not None else (),
        )
        row.has_bias = (op == "convolution" and args[2] is not None) or op in ("addmm", "baddbmm", "addmv")
        if kind == "pooling" and op.startswith(("max_pool", "avg_pool")) and len(args) > 1:
            row.window = math.prod(args[1])
        self._open(row)
        return row

    def _track_outputs(self, out, args) -> None:
        inputs = {_storage_key(t) for t in tree_flatten(args)[0] if isinstance(t, Tensor) and t.layout == torch.strided}
        for t in tree_flatten(out)[0]:
            if not isinstance(t, Tensor) or t.layout != torch.strided or id(t) in self.params:
                continue
            key = _storage_key(t)
            entry = self.refs.get(key)
            if entry is None:
                if key in inputs:
                    continue  # an alias of an input that was allocated before we started
                entry = self.refs[key] = [t.untyped_storage().nbytes(), 0]
                self.live += entry[0]
                self.peak = max(self.peak, self.live)
            entry[1] += 1
            weakref.finalize(t, self._release, key)

    def _release(self, key: int) -> None:
        entry = self.refs.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            self.live -= entry[0]
            del self.refs[key]


def trace(
    model: nn.Module, input_shape: tuple[int, ...], batch: int, device: str = "meta"
) -> tuple[list[Row], int, int]:
    """(rows, inference peak activation bytes, training saved-activation bytes), over ``batch``."""
    was_training = model.training
    try:
        rows, peak = _pass(model, input_shape, batch, device, training=False)
        _training_pass(model, input_shape, max(batch, 2), device, rows)
        if batch < 2:  # batch norm cannot train on one example; activations scale with the batch
            for r in rows:
                r.saved_bytes = r.saved_bytes * batch // 2
        return rows, peak, sum(r.saved_bytes for r in rows)
    finally:
        model.train(was_training)


def _run(model: nn.Module, state: dict[str, Tensor], x: Tensor, tracer: _Tracer):
    handles = [
        nn.modules.module.register_module_forward_pre_hook(lambda m, inp: tracer.push(m, inp)),
        nn.modules.module.register_module_forward_hook(lambda m, inp, out: tracer.pop(out)),
    ]
    try:
        with tracer:
            return torch.func.functional_call(model, state, (x,), strict=False)
    finally:
        for h in handles:
            h.remove()


def _pass(model: nn.Module, input_shape, batch: int, device: str, training: bool) -> tuple[list[Row], int]:
    model.train(training)
    state, ids = stand_in_state(model, device)
    tracer = _Tracer(model, ids, batch)
    x = stand_in_input(model, input_shape, batch, device)
    tracer.live = tracer.peak = x.untyped_storage().nbytes()  # the input batch is live throughout
    with torch.no_grad():
        out = _run(model, state, x, tracer)
    del out
    return tracer.rows, tracer.peak


def _training_pass(model: nn.Module, input_shape, batch: int, device: str, rows: list[Row]) -> int:
    """Attribute autograd's saved tensors to the rows found by the inference pass."""
    model.train(True)
    state, ids = stand_in_state(model, device)
    tracer = _Tracer(model, ids, batch)
    param_keys = {_storage_key(t) for t in state.values()}
    seen: set[int] = set()

    def pack(t: Tensor):
        if t.layout == torch.strided:
            key = _storage_key(t)
            if key not in seen and key not in param_keys:
                seen.add(key)
                target = tracer.current_layer() or (tracer.rows[-1] if tracer.rows else None)
                if target is not None:
                    target.saved_bytes += t.untyped_storage().nbytes()
        return t

    x = stand_in_input(model, input_shape, batch, device)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = _run(model, state, x, tracer)
    del out
    by_name = {r.name: r for r in tracer.rows}
    for r in rows:  # the same layers in both passes (dropout/batch-norm mode does not change them)
        r.saved_bytes = by_name[r.name].saved_bytes if r.name in by_name else 0
    return sum(r.saved_bytes for r in rows)


def per_example(shape: tuple[int, ...], batch: int) -> tuple[int, ...]:
    """The shape of one example's share of a batched tensor: the batch axis dropped, or
    unfolded where an op folded it into the first axis ((B·L, E) from a matmul over a
    sequence, (B·heads, L, L) in attention). Always numel / batch elements."""
    if not shape:
        return shape
    if shape[0] == batch:
        return shape[1:]
    if shape[0] % batch == 0:
        return (shape[0] // batch, *shape[1:])
    if batch in shape:  # (L, B, E): a sequence-first layout
        i = shape.index(batch)
        return shape[:i] + shape[i + 1 :]
    return (math.prod(shape) // batch,)


def numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape) if shape else 0
