"""First-layer weights as images (lecture 9, "What do networks learn?").

* conv filters (O, C, k, k): one tile per filter, in colour when C = 3, grey when C = 1
  (other C: one tile per input channel of each filter);
* fully connected on images (O, C·H·W): each hidden unit's weights reshaped to the input,
  the lecture's "Fully connected (MNIST)" picture;
* locally connected: the filters of the centre position.

Signed weights are drawn on one diverging colour map (blue < 0, white = 0, red > 0), one scale
for the whole layer, with a colour bar; fully connected weights are drawn in the layout of
their input (LeNet-5's F5: 16 maps of 5×5, S4's layout). Colour filters (3 input channels) are
min-max scaled per filter, as in the AlexNet paper's figure.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cnnlab.display import Picture
from cnnlab.errors import CnnlabError
from cnnlab.models.lenet1998 import PartialConv2d
from cnnlab.nn import LocallyConnected2d
from cnnlab.viz import images
from cnnlab.viz.figures import colour_filters_figure, near_square, picture, save, tile_maps, weights_figure
from cnnlab.viz.layers import get_layer

WEIGHT_LAYERS = (nn.Conv2d, nn.Linear, LocallyConnected2d)


def first_weight_layer(model: nn.Module) -> str:
    for name, m in model.named_modules():
        if isinstance(m, WEIGHT_LAYERS) or (
            hasattr(m, "weight") and isinstance(m.weight, torch.Tensor) and m.weight.ndim == 4
        ):
            return name
    raise CnnlabError(f"{type(model).__name__} has no conv, fully connected or locally connected layer to show")


def input_layout(model: nn.Module, layer: str, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape a fully connected layer's input had before it was flattened: the last (C, H, W)
    tensor produced before the layer runs (the model's input counts), if it holds exactly the
    layer's inputs; else (n,) for an input with no spatial layout (F6's 120 inputs from F5)."""
    module = get_layer(model, layer)
    assert isinstance(module, nn.Linear), f"{layer} is a {type(module).__name__}, not a fully connected layer"
    n = module.in_features
    last: list[tuple[int, ...]] = [tuple(input_shape)]

    def record(m, i, o) -> None:
        if isinstance(o, torch.Tensor) and o.ndim >= 4:
            last.append(tuple(o.shape[1:]))

    def arrived(m, i) -> None:
        raise _Arrived

    handles = [m.register_forward_hook(record) for m in model.modules() if m is not module]
    handles.append(module.register_forward_pre_hook(arrived))
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=next(model.parameters()).device))
    except _Arrived:
        pass
    finally:
        model.train(was)
        for h in handles:
            h.remove()
    return last[-1] if math.prod(last[-1]) == n else (n,)


class _Arrived(Exception):
    """Raised by the pre-hook when the layer is reached: the shapes before it are recorded, the rest of the forward pass is not needed."""


def filter_weights(model: nn.Module, layer: str, input_shape: tuple[int, ...]) -> tuple[np.ndarray, str, bool]:
    """The layer's weights as (U, M, H, W) units of M maps (filters × input channels; fully
    connected units in their input's layout), a caption, and whether they are colour filters."""
    module = get_layer(model, layer)
    if isinstance(module, LocallyConnected2d):
        oh, ow = module.output_size
        centre = (oh // 2) * ow + ow // 2
        w = (
            module.weight[centre]
            .detach()
            .float()
            .cpu()
            .view(module.out_channels, module.in_channels, *module.kernel_size)
        )
        kind = f"locally connected: the {module.out_channels} filters at the centre position"
    elif isinstance(module, PartialConv2d):  # lenet5-1998's C3: Table I's zeros included
        w, kind = module.dense_weight().detach().float().cpu(), "conv filters"
    elif isinstance(module, nn.Linear):
        w = module.weight.detach().float().cpu()  # (U, n)
        shape = input_layout(model, layer, input_shape)
        if len(shape) == 1:
            rows, cols = near_square(shape[0])
            units = w.view(w.shape[0], 1, rows, cols).numpy()
            return (
                units,
                f"fully connected: {w.shape[0]} units × {shape[0]} inputs (each unit's weights as {rows}×{cols})",
                False,
            )
        c, h, ww = shape[0], shape[-2], shape[-1]
        units = w.view(w.shape[0], c, h, ww).numpy()
        where = f"{c} maps of {h}×{ww}" if c > 1 else f"a {h}×{ww} image"
        return (
            units,
            f"fully connected: each of the {w.shape[0]} units' weights in the layout of its input, {where}",
            False,
        )
    elif isinstance(weight := getattr(module, "weight", None), torch.Tensor) and weight.ndim == 4:
        w, kind = weight.detach().float().cpu(), "conv filters"
    else:
        raise CnnlabError(
            f"{type(module).__name__} has no filters to show; pick a conv, fully connected or locally connected layer"
        )
    o, c = w.shape[:2]
    if c == 3:
        return w.numpy(), f"{kind}: {o} filters, {w.shape[2]}×{w.shape[3]}×3, in colour", True
    if c == 1:
        return w.numpy(), f"{kind}: {o} filters, {w.shape[2]}×{w.shape[3]}", False
    return w.numpy(), f"{kind}: {o} filters × {c} input channels (a row of {c} per filter)", False


def filter_tiles(
    module: nn.Module, input_shape: tuple[int, ...], model: nn.Module | None = None
) -> tuple[list[np.ndarray], str]:
    """(H, W, 3) tiles in [0, 1], one per unit, on the diverging colour map (colour filters
    min-max scaled), and a caption: for TensorBoard's image of the first-layer filters."""
    model = model or nn.Sequential(module)
    name = next(n for n, m in model.named_modules() if m is module) or "0"
    units, caption, colour = filter_weights(model, name, input_shape)
    if colour:
        return [images.minmax(u).transpose(1, 2, 0) for u in units], caption
    peak = float(np.abs(units).max()) or 1.0
    return [
        images.diverging(
            tile_maps(u, u.shape[0] if u.shape[0] <= 8 else math.ceil(math.sqrt(u.shape[0])), fill=0.0), peak
        )
        for u in units
    ], caption


def _filter_figure(model: nn.Module, input_shape: tuple[int, ...], layer: str | None, title: str):
    name = layer or first_weight_layer(model)
    units, caption, colour = filter_weights(model, name, input_shape)
    heading = f"{title + ': ' if title else ''}layer {name}\n{caption}"
    fig = colour_filters_figure(units, heading) if colour else weights_figure(units, heading)
    return fig, f"layer {name}: {caption}"


def filter_grid(model: nn.Module, input_shape: tuple[int, ...], layer: str | None = None, title: str = "") -> Picture:
    """The layer's weights as a picture (default: the first layer with weights): signed
    weights on the diverging map with a colour bar, colour filters in colour. It shows itself
    in a notebook; ``.save(path)`` writes the PNG ``cnnlab viz filters`` writes.

    >>> from cnnlab.models import create
    >>> filter_grid(create("lenet5"), (1, 28, 28))           # doctest: +ELLIPSIS
    <Picture ...: layer C1: conv filters: 6 filters, 5×5>
    """
    fig, caption = _filter_figure(model, input_shape, layer, title)
    return picture(fig, caption)


def save_filter_grid(
    model: nn.Module, path: str | Path, input_shape: tuple[int, ...], layer: str | None = None, title: str = ""
) -> str:
    """Write the layer's weights as a PNG (signed weights on the diverging map with a colour bar);
    returns its caption."""
    fig, caption = _filter_figure(model, input_shape, layer, title)
    save(fig, path)
    return caption
