"""Saliency: the gradient of a class score (or a unit) with respect to the input pixels
(Simonyan et al. 2014), and SmoothGrad (Smilkov et al. 2017), its average over noisy copies
of the input. The lecture: "use input gradients to diagnose what the unit is responding to".
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from cnnlab.display import Picture, compose, to_rgb
from cnnlab.viz import images
from cnnlab.viz.layers import capture, check_channel
from cnnlab.viz.render import frozen


def input_gradient(model: nn.Module, x: Tensor, target: int, layer: str | None = None) -> Tensor:
    """d(target)/d(input) for one normalized input x (1, C, H, W): the class logit ``target``,
    or channel ``target`` of ``layer`` (its mean over positions)."""
    x = x.detach().clone().requires_grad_()
    with frozen(model):
        if layer is None:
            out = model(x)
            if not 0 <= target < out.shape[1]:
                from cnnlab.errors import CnnlabError

                raise CnnlabError(
                    f"class {target} is out of range: the model has {out.shape[1]} classes (0-{out.shape[1] - 1})"
                )
            score = out[:, target].sum()
        else:
            with capture(model, [layer]) as acts:
                model(x)
            check_channel(layer, acts[layer], target)
            score = acts[layer][:, target].mean()
        (grad,) = torch.autograd.grad(score, x)
    return grad  # (1, C, H, W)


def saliency_map(
    model: nn.Module,
    x: Tensor,
    target: int,
    layer: str | None = None,
    smooth: int = 0,
    noise: float = 0.15,
    seed: int = 0,
) -> Tensor:
    """(H, W) ≥ 0: the largest |gradient| over channels; with ``smooth`` > 0, SmoothGrad over that
    many copies with Gaussian noise of ``noise`` × the input's value range. To look at it:
    ``cnnlab.show(saliency_map(...))``, or :func:`saliency_panel` for the labelled overlay.

    >>> import torch
    >>> from cnnlab.models import create
    >>> x = torch.rand(1, 1, 28, 28)
    >>> heat = saliency_map(create("lenet5"), x, target=3)
    >>> heat.shape, bool((heat >= 0).all())
    (torch.Size([28, 28]), True)
    """
    if smooth <= 0:
        return input_gradient(model, x, target, layer).abs().amax(1)[0]
    g = torch.Generator().manual_seed(seed)
    sigma = noise * (x.max() - x.min()).item()
    total = torch.zeros_like(x)
    for _ in range(smooth):
        noisy = x + sigma * torch.randn(x.shape, generator=g).to(x.device)
        total += input_gradient(model, noisy, target, layer)
    return (total / smooth).abs().amax(1)[0]


def _tiles(model: nn.Module, data, index: int, target: int | None, smooth: int):
    x = data.prepare(data.images[index : index + 1])  # (1, C, H, W) as the model sees it
    with torch.no_grad():
        pred = int(model.eval()(x).argmax(1))
    target = pred if target is None else target
    img = images.chw_to_hwc(data.pixels(index).numpy())
    tiles = [img, images.overlay(img, saliency_map(model, x, target).numpy())]
    if smooth:
        tiles.append(images.overlay(img, saliency_map(model, x, target, smooth=smooth).numpy()))
    return tiles, pred, target


def saliency_panel(model: nn.Module, data, index: int, target: int | None = None, smooth: int = 25) -> Picture:
    """Image ``index`` of ``data`` (an in-memory dataset), its gradient saliency and, with
    ``smooth`` > 0, SmoothGrad over that many noisy copies, side by side and labelled, as a
    picture that shows itself in a notebook. ``target``: the class to explain (None: the
    predicted one).

    >>> import torch
    >>> from cnnlab.data import ImageTensors
    >>> from cnnlab.models import create
    >>> digits = ImageTensors(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), torch.tensor([0, 1]), (0.1,), (0.3,),
    ...                       tuple("0123456789"))
    >>> saliency_panel(create("lenet5"), digits, 0, target=1, smooth=2)   # doctest: +ELLIPSIS
    <Picture ...: image 0: why class 1? (predicted ...)>
    """
    return saliency_picture(model, data, index, target, smooth)[0]


def saliency_picture(
    model: nn.Module, data, index: int, target: int | None = None, smooth: int = 25
) -> tuple[Picture, int, int]:
    """:func:`saliency_panel`'s picture, with the predicted and the explained class
    (``cnnlab viz saliency`` writes it)."""
    tiles, pred, target = _tiles(model, data, index, target, smooth)
    classes = list(getattr(data, "classes", ()) or ())
    name = lambda c: f"{c} ({classes[c]})" if c < len(classes) and classes[c] != str(c) else str(c)  # noqa: E731
    labels = ["image", "gradient"] + ([f"SmoothGrad ({smooth})"] if smooth else [])
    title = f"image {index}: why class {name(target)}? (predicted {name(pred)})"
    picture = Picture(compose([to_rgb(t, signed=False, peak=1.0) for t in tiles], labels, title), title)
    return picture, pred, target


def saliency_figure(
    model: nn.Module, data, index: int, target: int | None = None, smooth: int = 25
) -> tuple[np.ndarray, int, int]:
    """Test image ``index`` of ``data`` (an in-memory dataset), its gradient saliency and, with
    ``smooth`` > 0, SmoothGrad, side by side. ``target``: the class to explain (None: the
    predicted one). Returns (picture in [0, 1], predicted class, explained class)."""
    tiles, pred, target = _tiles(model, data, index, target, smooth)
    scale = max(1, 168 // tiles[0].shape[0])
    return images.grid(tiles, cols=len(tiles), pad=2, scale=scale), pred, target
