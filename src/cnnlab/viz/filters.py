"""First-layer weights as images (lecture 9, "What do networks learn?").

* conv filters (O, C, k, k): one tile per filter, in colour when C = 3, grey when C = 1
  (other C: one tile per input channel of each filter);
* fully connected on images (O, C·H·W): each hidden unit's weights reshaped to the input,
  the lecture's "Fully connected (MNIST)" picture;
* locally connected: the filters of the centre position.

Grey tiles map 0 to mid-grey and ± the tile's largest |weight| to white/black; colour tiles
are min-max scaled per filter, as in the AlexNet paper's figure.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.nn import LocallyConnected2d
from cnnlab.viz import images
from cnnlab.viz.layers import get_layer

WEIGHT_LAYERS = (nn.Conv2d, nn.Linear, LocallyConnected2d)


def first_weight_layer(model: nn.Module) -> str:
    for name, m in model.named_modules():
        if isinstance(m, WEIGHT_LAYERS) or (
            hasattr(m, "weight") and isinstance(m.weight, torch.Tensor) and m.weight.ndim == 4
        ):
            return name
    raise CnnlabError(f"{type(model).__name__} has no conv, fully connected or locally connected layer to show")


def filter_tiles(module: nn.Module, input_shape: tuple[int, ...]) -> tuple[list[np.ndarray], str]:
    """Tiles in [0, 1] and a caption for the layer's filters."""
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
    elif hasattr(module, "dense_weight"):
        w, kind = module.dense_weight().detach().float().cpu(), "conv filters"
    elif isinstance(module, nn.Linear):
        w = module.weight.detach().float().cpu()
        if w.shape[1] != math.prod(input_shape):
            side = int(math.isqrt(w.shape[1]))
            if side * side != w.shape[1]:
                raise CnnlabError(
                    f"fully connected layer with {w.shape[1]} inputs cannot be shown as images; pick a conv layer"
                )
            input_shape = (1, side, side)
        return (
            [
                images.signed_to_unit(row.view(*input_shape).numpy()).transpose(1, 2, 0).squeeze(-1)
                if input_shape[0] == 1
                else images.minmax(row.view(*input_shape).numpy()).transpose(1, 2, 0)
                for row in w
            ],
            f"fully connected: each of the {w.shape[0]} hidden units' weights as a {input_shape[1]}×{input_shape[2]} image",
        )
    elif getattr(module, "weight", None) is not None and module.weight.ndim == 4:
        w, kind = module.weight.detach().float().cpu(), "conv filters"
    else:
        raise CnnlabError(
            f"{type(module).__name__} has no filters to show; pick a conv, fully connected or locally connected layer"
        )
    o, c = w.shape[:2]
    if c == 3:
        return [
            images.minmax(f.numpy()).transpose(1, 2, 0) for f in w
        ], f"{kind}: {o} filters, {w.shape[2]}×{w.shape[3]}×3, in colour"
    if c == 1:
        return [images.signed_to_unit(f[0].numpy()) for f in w], f"{kind}: {o} filters, {w.shape[2]}×{w.shape[3]}"
    return [
        images.signed_to_unit(f[i].numpy()) for f in w for i in range(c)
    ], f"{kind}: {o} filters × {c} input channels (one row per filter)"


def save_filter_grid(
    model: nn.Module, path: str | Path, input_shape: tuple[int, ...], layer: str | None = None, title: str = ""
) -> str:
    """Write the filter grid PNG; returns its caption."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    name = layer or first_weight_layer(model)
    tiles, caption = filter_tiles(get_layer(model, name), input_shape)
    module = get_layer(model, name)
    w = getattr(module, "weight", None)
    cols = (
        w.shape[1]
        if (w is not None and w.ndim == 4 and w.shape[1] not in (1, 3) and not isinstance(module, LocallyConnected2d))
        else None
    )
    side = max(t.shape[0] for t in tiles)
    scale = max(1, 48 // side)
    picture = images.grid(tiles, cols=cols, scale=scale, background=1.0)
    fig, ax = plt.subplots(figsize=(max(4, picture.shape[1] / 90), max(3, picture.shape[0] / 90 + 0.6)), dpi=110)
    ax.imshow(picture, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    ax.set_title(f"{title + ': ' if title else ''}layer {name}\n{caption}", fontsize=9)
    fig.tight_layout()
    from cnnlab import atomic

    atomic.write_with(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
    return f"layer {name}: {caption}"
