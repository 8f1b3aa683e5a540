"""Stand-ins for a model's tensors on the meta device: shapes and dtypes, no data.

Running ``torch.func.functional_call(model, state, (x,))`` with these costs no arithmetic
and no memory, which is how ``cnnlab.size`` traces a forward pass and
``cnnlab.viz.receptive_field`` follows one. (Both watch the pass with
``torch.utils._python_dispatch.TorchDispatchMode``, a private torch API; see pyproject's
torch bound.)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype of the model's parameters (float32 for a model without any)."""
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)


def stand_in_state(model: nn.Module, device: str = "meta") -> tuple[dict[str, Tensor], dict[int, str]]:
    """(state for ``functional_call``, id(stand-in) -> the parameter's canonical name).

    Every parameter and buffer gets an uninitialized tensor of its shape and dtype on
    ``device`` (buffers are zeros off the meta device, so batch-norm statistics are valid);
    a parameter shared under two names stays one tensor."""
    state: dict[str, Tensor] = {}
    first: dict[int, Tensor] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        state[name] = first.setdefault(id(p), torch.empty_like(p, device=device).requires_grad_(p.requires_grad))
    for name, b in model.named_buffers(remove_duplicate=False):
        state[name] = torch.empty_like(b, device=device) if device == "meta" else torch.zeros_like(b, device=device)
    canonical = {id(p): n for n, p in model.named_parameters()}
    ids = {id(state[name]): canonical[id(p)] for name, p in model.named_parameters(remove_duplicate=False)}
    return state, ids


def stand_in_input(model: nn.Module, input_shape: tuple[int, ...], batch: int = 1, device: str = "meta") -> Tensor:
    """A (batch, *input_shape) input in the model's own floating dtype (a float64 or
    bfloat16 model gets a float64 or bfloat16 input)."""
    return torch.zeros((batch, *input_shape), dtype=model_dtype(model), device=device)
