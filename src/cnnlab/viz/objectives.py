"""What to maximize: objectives that compose with + − × (Lucid's design).

An objective maps the captured layer activations (and the image and the model's output) to
one value per image in the batch. Build them from the pieces below and combine::

    obj = channel("C3", 5) - 1e-3 * l1() - 1e-2 * total_variation()
    obj = class_logit(7) + 0.5 * diversity("C3")          # a batch of different 7s

``neuron`` one unit (the centre, by default), ``neurons`` the centre units of several channels
(one per image of a batch); ``channel`` one feature map's mean;
``deepdream`` a whole layer (mean square activation); ``class_logit`` an output; ``direction``
a direction in a layer's channel space. Regularizers (to subtract): ``l1``, ``l2``,
``alpha_norm``, ``total_variation``. ``diversity`` rewards a batch for differing (Mordvintsev et al. 2018).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

OUTPUT = "__output__"  # the model's final output, for class_logit

Fn = Callable[[dict[str, Tensor], Tensor], Tensor]  # (activations, image) -> (B,)


@dataclass(frozen=True)
class Objective:
    fn: Fn
    name: str
    layers: frozenset[str] = frozenset()

    def __call__(self, acts: dict[str, Tensor], image: Tensor) -> Tensor:
        return self.fn(acts, image)

    def __add__(self, other: Objective | float) -> Objective:
        o = _lift(other)
        return Objective(lambda a, x: self(a, x) + o(a, x), f"{self.name} + {o.name}", self.layers | o.layers)

    def __radd__(self, other: float) -> Objective:
        return self + other

    def __sub__(self, other: Objective | float) -> Objective:
        return self + (-1) * _lift(other)

    def __rsub__(self, other: float) -> Objective:
        return _lift(other) - self

    def __neg__(self) -> Objective:
        return (-1) * self

    def __mul__(self, other: Objective | float) -> Objective:
        if isinstance(other, (int, float)):
            return Objective(lambda a, x: other * self(a, x), f"{other:g}·{self.name}", self.layers)
        o = _lift(other)
        return Objective(lambda a, x: self(a, x) * o(a, x), f"({self.name})·({o.name})", self.layers | o.layers)

    def __rmul__(self, other: float) -> Objective:
        return self * other


def _lift(v: Objective | float) -> Objective:
    return (
        v
        if isinstance(v, Objective)
        else Objective(lambda a, x: torch.full((x.shape[0],), float(v), device=x.device), f"{v:g}")
    )


def neuron(layer: str, channel: int, y: int | None = None, x: int | None = None) -> Objective:
    def fn(acts, image):
        a = acts[layer][:, channel]
        if a.ndim == 1:
            return a
        yy = a.shape[1] // 2 if y is None else y
        xx = a.shape[2] // 2 if x is None else x
        return a[:, yy, xx]

    return Objective(fn, f"neuron {layer}:{channel}", frozenset({layer}))


def neurons(layer: str, cs: list[int]) -> Objective:
    """Image b of the batch maximizes the centre unit of channel ``cs[b]`` (as ``neuron``, with
    the default position): one render for the centre units of many channels."""

    def fn(acts, image):
        a = acts[layer]
        assert a.shape[0] == len(cs), f"batch {a.shape[0]} != {len(cs)} channels"
        picked = a[torch.arange(len(cs), device=a.device), torch.as_tensor(cs, device=a.device)]  # (B, ...)
        if picked.ndim == 1:
            return picked
        return picked[:, picked.shape[1] // 2, picked.shape[2] // 2]  # (B,)

    return Objective(fn, f"neurons {layer}:{','.join(map(str, cs))}", frozenset({layer}))


def channel(layer: str, c: int) -> Objective:
    return Objective(
        lambda acts, image: acts[layer][:, c].reshape(image.shape[0], -1).mean(1),
        f"channel {layer}:{c}",
        frozenset({layer}),
    )


def channels(layer: str, cs: list[int]) -> Objective:
    """Image b of the batch maximizes channel ``cs[b]``'s mean: one render for many units."""

    def fn(acts, image):
        a = acts[layer]
        assert a.shape[0] == len(cs), f"batch {a.shape[0]} != {len(cs)} channels"
        picked = a[torch.arange(len(cs), device=a.device), torch.as_tensor(cs, device=a.device)]  # (B, ...)
        return picked.reshape(len(cs), -1).mean(1)

    return Objective(fn, f"channels {layer}:{','.join(map(str, cs))}", frozenset({layer}))


def class_logits(ks: list[int]) -> Objective:
    """Image b of the batch maximizes class logit ``ks[b]``."""

    def fn(acts, image):
        out = acts[OUTPUT]
        return out[torch.arange(len(ks), device=out.device), torch.as_tensor(ks, device=out.device)]

    return Objective(fn, f"classes {','.join(map(str, ks))}", frozenset({OUTPUT}))


def deepdream(layer: str) -> Objective:
    return Objective(
        lambda acts, image: acts[layer].reshape(image.shape[0], -1).square().mean(1),
        f"deepdream {layer}",
        frozenset({layer}),
    )


def class_logit(c: int) -> Objective:
    return Objective(lambda acts, image: acts[OUTPUT][:, c], f"class {c}", frozenset({OUTPUT}))


def direction(layer: str, vector: Tensor) -> Objective:
    """Cosine-weighted projection of each position's channel vector on ``vector`` (averaged)."""

    def fn(acts, image):
        a = acts[layer]
        v = vector.to(a.device, a.dtype)
        v = v / v.norm()
        a = a.reshape(a.shape[0], a.shape[1], -1)  # (B, C, positions)
        return torch.einsum("bcp,c->bp", a, v).mean(1)

    return Objective(fn, f"direction {layer}", frozenset({layer}))


def l1(constant: float = 0.5) -> Objective:
    return Objective(lambda acts, image: (image - constant).abs().reshape(image.shape[0], -1).mean(1), "L1")


def l2(constant: float = 0.5) -> Objective:
    return Objective(lambda acts, image: (image - constant).square().reshape(image.shape[0], -1).mean(1), "L2")


def alpha_norm(alpha: float = 6.0, constant: float = 0.5) -> Objective:
    """Mean of |x − constant|^α (Mahendran & Vedaldi 2015, α = 6): a soft bound on the pixels'
    range, nearly free near ``constant`` and steep toward 0 and 1 (to subtract)."""
    return Objective(
        lambda acts, image: (image - constant).abs().pow(alpha).reshape(image.shape[0], -1).mean(1), f"α{alpha:g}"
    )


def total_variation() -> Objective:
    def fn(acts, image):
        dy = (image[..., 1:, :] - image[..., :-1, :]).abs().reshape(image.shape[0], -1).mean(1)
        dx = (image[..., :, 1:] - image[..., :, :-1]).abs().reshape(image.shape[0], -1).mean(1)
        return dy + dx

    return Objective(fn, "TV")


def diversity(layer: str) -> Objective:
    """Minus the mean cosine similarity of each image's Gram matrix with the others' (batch ≥ 2)."""

    def fn(acts, image):
        a = acts[layer]
        b = a.shape[0]
        flat = a.reshape(b, a.shape[1], -1)
        gram = torch.bmm(flat, flat.transpose(1, 2)).reshape(b, -1)  # (B, C·C)
        g = F.normalize(gram, dim=1)
        sim = g @ g.T  # (B, B)
        off = (sim.sum(1) - sim.diagonal()) / max(b - 1, 1)
        return -off

    return Objective(fn, f"diversity {layer}", frozenset({layer}))
