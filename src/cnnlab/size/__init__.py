"""The size of a conv net, the lecture's three ways and more: units, weights, connections,
MACs/FLOPs, and memory, per layer, for any model.

>>> from cnnlab.models import create
>>> from cnnlab.size import analyze
>>> report = analyze(create("lenet5"), (1, 28, 28), count_bias=False)
>>> [(r["name"], r["units"], r["connections"], r["weights"]) for r in report.layers][:2]
[('C1', 4704, 117600, 150), ('S2', 1176, 4704, 0)]

Counting follows the actual forward pass (a ``TorchDispatchMode`` over meta tensors), so
functional ops, reused modules and nested containers are all counted; see ``trace.py``.
"""

from __future__ import annotations

import math

from torch import nn

import cnnlab.size.rules as rules
from cnnlab.errors import CnnlabError
from cnnlab.size.report import CONV_TYPES, FC_TYPES, SizeReport
from cnnlab.size.trace import trace

__all__ = ["SizeReport", "analyze"]


def analyze(
    model: nn.Module, input_shape: tuple[int, ...], batch: int = 1, count_bias: bool = True, name: str | None = None
) -> SizeReport:
    """Per-layer size of ``model`` for one input of ``input_shape`` (C, H, W).

    ``batch`` scales the memory figures (activations) only; units, weights, connections and
    MACs are per example. ``count_bias=False`` leaves biases out of weights and connections,
    as the lecture's LeNet table does. In a notebook the report shows itself as a table.

    >>> from cnnlab.models import create
    >>> report = analyze(create("lenet5"), (1, 28, 28))
    >>> report.totals["weights"], report.row("C1")["connections"]   # 28·28·6·(25 + 1), as LeCun et al. 1998
    (61706, 122304)
    """
    input_shape = tuple(input_shape)
    if batch < 1:
        raise CnnlabError(f"--batch must be at least 1, got {batch}")
    if not input_shape or any(s < 1 for s in input_shape):
        raise CnnlabError(f"input shape must be positive sizes like 3,224,224, got {input_shape}")
    dtype_size = next((p.element_size() for p in model.parameters()), 4)
    try:
        rows, peak, saved = trace(model, input_shape, batch, "meta")
    except (NotImplementedError, RuntimeError) as e:
        if "meta" not in str(e).lower() and "data-dependent" not in str(e).lower():
            raise _input_error(e, model, input_shape) from None
        rows, peak, saved = trace(model, input_shape, batch, "cpu")  # needs real values
    except (ValueError, TypeError) as e:
        raise _input_error(e, model, input_shape) from None
    if not rows:
        raise CnnlabError(
            f"{type(model).__name__} ran no conv, pooling, fully connected or matmul op on a {input_shape} input"
        )

    layers = []
    for r in rows:
        macs = r.macs // batch
        units = math.prod(r.out_shape) if r.out_shape else 0
        weights = {k: v for k, v in r.params.items() if count_bias or not k.endswith("bias")}
        if r.module is not None:
            connections = rules.module_connections(r.module, r.kind, r.in_shape, r.out_shape, macs, count_bias)
        else:
            connections = rules.op_connections(r.kind, r.in_shape, r.out_shape, macs, r.has_bias, r.window, count_bias)
        layers.append(
            {
                "name": r.name,
                "type": r.kind,
                "output_shape": list(r.out_shape),
                "units": units,
                "weights": sum(weights.values()),
                "connections": connections,
                "macs": macs,
                "flops": 2 * macs,
                "param_bytes": sum(weights.values()) * dtype_size,
                "train_activation_bytes": r.saved_bytes,
                "inference_bytes": r.live_bytes,
                "parameters": sorted(weights),
                "shared_parameters": sorted(r.shared),
                "ops": sorted(set(r.ops)),
            }
        )
    all_params = {n: p.numel() for n, p in model.named_parameters() if count_bias or not n.endswith("bias")}
    used = {n for r in rows for n in r.params}
    unused = sorted(set(all_params) - used)
    totals = {
        "units": sum(r["units"] for r in layers),
        "weights": sum(r["weights"] for r in layers),
        "connections": sum(r["connections"] for r in layers),
        "macs": sum(r["macs"] for r in layers),
        "flops": 2 * sum(r["macs"] for r in layers),
        "param_bytes": sum(r["param_bytes"] for r in layers),
        "train_activation_bytes": saved,
        # a training step also holds one gradient per weight: measured within 6% for AlexNet and
        # ResNet-18 (benchmarks/size_check.py)
        "train_step_bytes": saved + sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad),
        "inference_peak_bytes": peak,
        "parameters_in_model": sum(all_params.values()),
    }

    def share(key: str, types: tuple[str, ...]) -> float:
        total = sum(r[key] for r in layers)
        return sum(r[key] for r in layers if r["type"] in types) / total if total else 0.0

    thumbs = {
        "conv_share_of_units": share("units", CONV_TYPES),
        "conv_share_of_connections": share("connections", CONV_TYPES),
        "fc_share_of_weights": share("weights", FC_TYPES),
    }
    notes = []
    if unused:
        n = sum(all_params[k] for k in unused)
        notes.append(
            f"note: {n:,} parameters are never used in the forward pass and are not in the rows: {', '.join(unused[:6])}{' …' if len(unused) > 6 else ''}"
        )
    return SizeReport(name or type(model).__name__, input_shape, batch, count_bias, layers, totals, thumbs, notes)


def _input_error(e: Exception, model: nn.Module, input_shape) -> CnnlabError:
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return CnnlabError(
        f"{type(model).__name__} cannot run on an input of shape {tuple(input_shape)}: {first}; pass --input C,H,W that fits the model"
    )
