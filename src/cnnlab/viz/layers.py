"""Addressing a model's layers by module name, and capturing their activations."""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from cnnlab.errors import CnnlabError
from cnnlab.nn.meta import stand_in_input, stand_in_state


def layer_names(model: nn.Module) -> list[str]:
    """Every named submodule, in definition order (the names ``--layer`` accepts).

    >>> from cnnlab.models import create
    >>> layer_names(create("lenet5"))
    ['C1', 'S2', 'C3', 'S4', 'F5', 'F6', 'output']
    """
    return [name for name, _ in model.named_modules() if name]


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` (dotted for nested ones: ``layer3.0.conv1``); an unknown
    name is one line listing the names there are.

    >>> from cnnlab.models import create
    >>> get_layer(create("lenet5"), "C1")
    Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))
    """
    modules = dict(model.named_modules())
    if name not in modules or not name:
        names = layer_names(model)
        close = sorted(difflib.get_close_matches(name, names, n=3, cutoff=0.5), key=names.index)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        shown = ", ".join(names[:40]) + (" …" if len(names) > 40 else "")
        raise CnnlabError(
            f"no layer {name!r} in {type(model).__name__}; {hint}layers: {shown} (`cnnlab viz layers MODEL` lists them all)"
        )
    return modules[name]


def check_channel(name: str, output: Tensor, channel: int) -> None:
    channels = output.shape[1] if output.ndim >= 2 else 1
    if not 0 <= channel < channels:
        raise CnnlabError(
            f"channel {channel} is out of range for layer {name!r}, which has {channels} channels (0-{channels - 1})"
        )


@contextlib.contextmanager
def capture(model: nn.Module, names: list[str], stop: type[Exception] | None = None) -> Iterator[dict[str, Tensor]]:
    """Record the outputs of the named layers during the forward passes run inside the block.
    With ``stop``, that exception is raised as soon as every named layer has run, to end the
    forward pass early (the caller catches it).

    >>> import torch
    >>> from cnnlab.models import create
    >>> model = create("lenet5")
    >>> with capture(model, ["C3"]) as acts:
    ...     logits = model(torch.zeros(2, 1, 28, 28))
    >>> acts["C3"].shape
    torch.Size([2, 16, 10, 10])
    """
    acts: dict[str, Tensor] = {}
    handles = []
    wanted = dict.fromkeys(names)
    for name in wanted:
        layer = get_layer(model, name)

        def hook(module, inputs, output, name=name):
            out = output[0] if isinstance(output, (tuple, list)) else output
            # a copy (still in the autograd graph): a later in-place ReLU would otherwise turn the
            # layer's own output into the next layer's input (mnist-fast, mnist-race)
            acts[name] = out.clone() if isinstance(out, Tensor) else out
            if stop is not None and len(acts) == len(wanted):
                raise stop

        handles.append(layer.register_forward_hook(hook))
    try:
        yield acts
    finally:
        for h in handles:
            h.remove()


def layer_table(model: nn.Module, input_shape: tuple[int, ...]) -> list[dict]:
    """Name, type, output shape and parameter count of every layer, from one forward pass on meta tensors.

    >>> from cnnlab.models import create
    >>> layer_table(create("lenet5"), (1, 28, 28))[0]
    {'name': 'C1', 'type': 'Conv2d', 'output_shape': [6, 28, 28], 'params': 156}
    """
    shapes: dict[str, tuple[int, ...]] = {}

    def record(module, inputs, output, name: str) -> None:  # must return None: a value would replace the output
        out = output[0] if isinstance(output, (tuple, list)) else output
        if isinstance(out, Tensor):
            shapes.setdefault(name, tuple(out.shape[1:]))

    handles = [
        module.register_forward_hook(lambda m, i, o, name=name: record(m, i, o, name))
        for name, module in model.named_modules()
        if name
    ]
    state, _ = stand_in_state(model)
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            torch.func.functional_call(model, state, (stand_in_input(model, tuple(input_shape)),), strict=False)
    finally:
        model.train(was)
        for h in handles:
            h.remove()
    return [
        {
            "name": name,
            "type": type(m).__name__,
            "output_shape": list(shapes.get(name, ())),
            "params": sum(p.numel() for p in m.parameters(recurse=False)),
        }
        for name, m in model.named_modules()
        if name
    ]
