"""Memory estimates that need a traced forward pass, made before anything is allocated.

They live here, above :mod:`cnnlab.limits`, because they trace the model with
:func:`cnnlab.size.trace.trace`; the CLI checks what they return against the limit with
``limits.check``. (``limits.model_bytes`` needs no trace and stays there.)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from cnnlab.limits import model_bytes
from cnnlab.size.trace import trace


def activation_bytes(model: nn.Module, input_shape: tuple[int, ...], batch: int) -> int:
    """Activation bytes of ``batch`` inputs through ``model`` with gradients (inference peak +
    what autograd saves), traced on the meta device; the input batch alone if untraceable."""
    try:
        _, peak, saved = trace(model, input_shape, batch, "meta")
        return peak + saved
    except Exception:  # noqa: BLE001 - a model the trace cannot follow: a coarse lower bound
        return batch * math.prod(input_shape) * 4


def training_bytes(build: Callable[[], nn.Module], input_shape: tuple[int, ...], batch: int) -> int:
    """A training step's memory: weights, gradients and two optimizer states (4 × the
    parameters), the input batch, and the activations autograd saves (traced on meta)."""
    params = model_bytes(build)
    try:
        with torch.device("meta"):
            model = build()
    except Exception:  # noqa: BLE001 - a constructor that needs real values: count the input batch only
        return 4 * params + batch * math.prod(input_shape) * 4
    return 4 * params + activation_bytes(model, input_shape, batch)
