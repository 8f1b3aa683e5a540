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

What it costs is Python per op (issue 19): torch's meta kernels are largely Python (48% of a
ResNet-152 analysis's own time under cProfile, batch norm's decomposition the largest part:
benchmarks/results/size_speed_profile_before.json), so ``MetaOps`` runs each op once per input
signature, or not at all where ``meta_shapes`` writes its outputs out; one
``functional_call`` covers both passes. The time then grows with the number of ops
(benchmarks/size_speed.py); the numbers are those of the plain tracer, field for field
(tests/size/test_reference.py).
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
from cnnlab.size.meta_ops import MetaOps


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


def _first_tensor(obj) -> Tensor | None:
    """The first tensor in ``obj`` in ``tree_flatten`` order (module inputs and outputs)."""
    if isinstance(obj, Tensor):
        return obj
    if type(obj) in (tuple, list):
        for x in obj:
            if isinstance(x, Tensor):
                return x
            if x is not None and not isinstance(x, (int, float, str)):
                t = _first_tensor(x)
                if t is not None:
                    return t
        return None
    return next((t for t in tree_flatten(obj)[0] if isinstance(t, Tensor)), None)


def _op_tensors(args: tuple, kwargs: dict) -> list[Tensor]:
    """The tensors among an aten op's arguments (a Tensor, or a Tensor[] of them), in order."""
    out = []
    for a in (*args, *kwargs.values()) if kwargs else args:
        if isinstance(a, Tensor):
            out.append(a)
        elif isinstance(a, (list, tuple)):  # Tensor[] or Tensor?[] (int[] has none)
            out.extend(t for t in a if isinstance(t, Tensor))
    return out


def _out_tensors(out) -> list[Tensor]:
    if isinstance(out, Tensor):
        return [out]
    return [t for t in tree_flatten(out)[0] if isinstance(t, Tensor)]


_SKIPPED = ("detach", "alias", "lift_fresh")  # ops that are no work and belong to no layer


class _Tracer(TorchDispatchMode):
    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False  # nothing here is compiled: skip torch's per-call dynamo guard (~15 µs an op)

    def __init__(
        self, model: nn.Module, params: dict[int, str], batch: int, meta: bool = True, track_live: bool = True
    ) -> None:
        super().__init__()
        self.params = params  # id(tensor) -> parameter name
        self.batch = batch
        self.rows: list[Row] = []
        self.stack: list[tuple[str, Row | None]] = []  # per module being called: (its name, the row it opened)
        self.layer: Row | None = None  # the open layer row (at most one: the outermost layer wins)
        self.modules = {m: (n or "(model)", rules.layer_type(m)) for n, m in model.named_modules()}
        self.calls: dict[str, int] = {}
        self.pending_ops: list[str] = []  # ops before the first row
        self.pending_params: dict[str, int] = {}
        self.seen_params: set[str] = set()
        self.live = 0
        self.peak = 0
        self.refs: dict[int, list] = {}  # storage key -> [bytes, live tensor count]
        self.watch: dict[int, tuple[weakref.ref, int]] = {}  # id(weak reference) -> (it, storage key)
        self.derived: dict[int, dict[str, int]] = {}  # id(tensor computed from weights alone) -> those weights
        self.keep: list[Tensor] = []  # keeps those tensors alive, so their ids stay unique
        self.ops = MetaOps() if meta else None  # on real tensors every op must run
        self.op_names: dict = {}  # aten overload -> (op name, rules.op_type)
        self.dispatched = 0  # aten ops seen
        self.track_live = track_live  # follow live activation storages (the inference peak)

    # -- module stack -----------------------------------------------------------------
    def push(self, module: nn.Module, inputs) -> None:
        info = self.modules.get(module)
        name, kind = info if info is not None else (type(module).__name__, rules.layer_type(module))
        self.calls[name] = self.calls.get(name, 0) + 1
        row = None
        if kind is not None and self.layer is None:  # outermost layer module wins
            label = name if self.calls[name] == 1 else f"{name} (call {self.calls[name]})"
            x = _first_tensor(inputs)
            row = Row(label, kind, module, in_shape=per_example(tuple(x.shape), self.batch) if x is not None else ())
            self._open(row)
            self.layer = row
        self.stack.append((name, row))

    def pop(self, output) -> None:
        _, row = self.stack.pop()
        if row is not None:
            y = _first_tensor(output)
            if y is not None:
                row.out_shape = per_example(tuple(y.shape), self.batch)
            row.live_bytes = self.live
            self.layer = None

    def _open(self, row: Row) -> None:
        if not self.rows:
            row.ops += self.pending_ops
            row.params.update(self.pending_params)
        self.rows.append(row)

    def current_layer(self) -> Row | None:
        return self.layer

    # -- ops --------------------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        self.dispatched += 1
        out, fresh = self.ops.run(func, args, kwargs) if self.ops is not None else (func(*args, **kwargs), None)
        names = self.op_names.get(func)
        if names is None:
            op = func.__name__.split(".")[0]
            names = self.op_names[func] = (op, rules.op_type(op))
        op, kind = names
        inputs = _op_tensors(args, kwargs)
        params, derived = self.params, self.derived
        used: dict[str, int] = {}
        activations = []
        for t in inputs:  # the parameters each input is (a view of)
            name = params.get(id(t))
            if name is not None:
                used[name] = t.numel()
                continue
            names_of = derived.get(id(t))
            if names_of:
                used.update(names_of)
            else:
                activations.append(t)
        if kind is None and used and not activations:
            # an op on weights alone (F.linear's transpose, a view, a cast): the weights belong
            # to the op that uses its result, so carry them to that op
            for t in _out_tensors(out):
                self.derived[id(t)] = used
                self.keep.append(t)
            return out
        if op in _SKIPPED:
            return out
        layer = self.layer
        if layer is None and kind is not None:  # a functional layer op: a row of its own
            layer = self._functional_row(op, kind, args, activations)
        target = layer if layer is not None else (self.rows[-1] if self.rows else None)
        if layer is not None and kind is not None:
            layer.macs += rules.op_macs(op, args, out)
            if layer.module is None:
                first = _first_tensor(out)
                if first is not None:
                    layer.out_shape = per_example(tuple(first.shape), self.batch)
        if target is None:
            self.pending_ops.append(op)
        else:
            target.ops.append(op)
        if used:
            self._use(target, used, kind)
        if not self.track_live:
            return out
        if fresh is None:
            self._track_outputs(out, args)
        else:
            self._track_fresh(fresh)
        if layer is not None and self.live > layer.live_bytes:
            layer.live_bytes = self.live
        return out

    def _use(self, target: Row | None, used: dict[str, int], kind: str | None) -> None:
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

    def _track_fresh(self, fresh: list[tuple[Tensor, int]]) -> None:
        """Outputs on storages of their own, just made (``MetaOps``): each is a new allocation."""
        for t, nbytes in fresh:
            key = _storage_key(t)
            self.refs[key] = [nbytes, 1]
            self.live += nbytes
            if self.live > self.peak:
                self.peak = self.live
            self._watch(t, key)

    def _track_outputs(self, out, args) -> None:
        inputs = {_storage_key(t) for t in _op_tensors(args, {}) if t.layout == torch.strided}
        for t in _out_tensors(out):
            if t.layout != torch.strided or id(t) in self.params:
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
            self._watch(t, key)

    def _watch(self, t: Tensor, key: int) -> None:
        ref = weakref.ref(t, self._dead)
        self.watch[id(ref)] = (ref, key)

    def _dead(self, ref: weakref.ref) -> None:
        _, key = self.watch.pop(id(ref))
        self._release(key)

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
    state, ids = stand_in_state(model, device)  # shared: the inference pass changes no buffer

    def passes() -> tuple[list[Row], int]:
        rows, peak = _pass(model, ids, input_shape, batch, device)
        _training_pass(model, ids, state, input_shape, max(batch, 2), device, rows)
        return rows, peak

    try:
        # one functional_call around both passes: swapping the stand-ins in costs as much as a
        # ResNet-18 pass
        rows, peak = torch.func.functional_call(
            _Passes(model, passes), {f"model.{k}": v for k, v in state.items()}, (), strict=False
        )
        if batch < 2:  # batch norm cannot train on one example; activations scale with the batch
            for r in rows:
                r.saved_bytes = r.saved_bytes * batch // 2
        return rows, peak, sum(r.saved_bytes for r in rows)
    finally:
        model.train(was_training)


class _Passes(nn.Module):
    """Runs ``passes()`` as its forward, with ``model`` (the user's, not changed) as a submodule
    so that ``functional_call`` swaps the stand-in tensors in for both passes at once."""

    def __init__(self, model: nn.Module, passes) -> None:
        super().__init__()
        self.model = model
        self.passes = passes

    def forward(self):
        return self.passes()


def _run(model: nn.Module, x: Tensor, tracer: _Tracer):
    handles = [
        nn.modules.module.register_module_forward_pre_hook(lambda m, inp: tracer.push(m, inp)),
        nn.modules.module.register_module_forward_hook(lambda m, inp, out: tracer.pop(out)),
    ]
    try:
        with tracer:
            return model(x)
    finally:
        for h in handles:
            h.remove()


def _pass(model: nn.Module, ids: dict[int, str], input_shape, batch: int, device: str) -> tuple[list[Row], int]:
    """The inference pass: the rows, and the peak of live activation bytes."""
    model.train(False)
    tracer = _Tracer(model, ids, batch, meta=device == "meta")
    x = stand_in_input(model, input_shape, batch, device)
    tracer.live = tracer.peak = x.untyped_storage().nbytes()  # the input batch is live throughout
    with torch.no_grad():
        out = _run(model, x, tracer)
    del out
    return tracer.rows, tracer.peak


def _training_pass(
    model: nn.Module,
    ids: dict[int, str],
    state: dict[str, Tensor],
    input_shape,
    batch: int,
    device: str,
    rows: list[Row],
) -> int:
    """Attribute autograd's saved tensors to the rows found by the inference pass."""
    model.train(True)
    tracer = _Tracer(model, ids, batch, meta=device == "meta", track_live=False)
    param_keys = {_storage_key(t) for t in state.values()}
    seen: set[int] = set()

    def pack(t: Tensor):
        if t.layout == torch.strided:
            key = _storage_key(t)
            if key not in seen and key not in param_keys:
                seen.add(key)
                target = tracer.layer or (tracer.rows[-1] if tracer.rows else None)
                if target is not None:
                    target.saved_bytes += t.untyped_storage().nbytes()
        return t

    x = stand_in_input(model, input_shape, batch, device)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = _run(model, x, tracer)
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
