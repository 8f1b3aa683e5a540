"""Pooling layers (lecture 9: "Max Pooling", "Average Pooling", "Other types of pooling exist").

Hyperparameters, as in the lecture: the spatial extent F and the stride S. Output size, for
an input of H (with P zeros of padding on each side):

    H' = floor((H + 2P − F) / S) + 1        e.g. F = 2, S = 2: 28 -> 14;  F = 3, S = 2: 13 -> 6

(``ceil_mode`` rounds up, as GoogLeNet's pools do: F = 3, S = 2: 112 -> 56.)

Max and average pooling are torch's own (``nn.MaxPool2d``, ``nn.AvgPool2d``), and so is
LP-pooling (``nn.LPPool2d``: (Σ xᵖ)^(1/p) over the window; p = 1 is sum pooling, p → ∞ max).
Stochastic pooling (Zeiler & Fergus 2013), which torch lacks, is here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab.conv.shapes import conv_output_size
from cnnlab.errors import CnnlabError

POOLS = ("max", "avg", "lp", "stochastic")


def pool_output_size(
    size: int, extent: int, stride: int | None = None, padding: int | tuple[int, int] = 0, ceil_mode: bool = False
) -> int:
    """The output size of a pooling layer: floor((H + 2P − F) / S) + 1, P per side (stride
    defaults to F; ``ceil_mode`` rounds up, as torch's pools do). A window that does not fit
    is an error.

    >>> pool_output_size(28, 2), pool_output_size(13, 3, stride=2), pool_output_size(5, 2, ceil_mode=True)
    (14, 6, 3)
    """
    return conv_output_size(size, extent, extent if stride is None else stride, padding, ceil_mode=ceil_mode)


def _window(extent, stride) -> tuple[int, int]:
    for name, v in (("extent", extent), ("stride", stride)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise CnnlabError(f"pooling {name} must be an integer of at least 1, got {v!r}")
    return extent, extent if stride is None else stride


class StochasticPool2d(nn.Module):
    """Stochastic pooling: in training, each window outputs one of its activations, drawn with
    probability proportional to its value; at test time, the probability-weighted average
    Σ pᵢ aᵢ with pᵢ = aᵢ / Σ aⱼ. Meant for non-negative inputs (after a ReLU); a window of
    zeros outputs 0.
    """

    def __init__(self, extent: int = 2, stride: int | None = None) -> None:
        super().__init__()
        self.extent, self.stride = _window(extent, stride)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4:
            raise CnnlabError(
                f"StochasticPool2d takes (N, C, H, W) input, got shape {tuple(x.shape)}; add axes with x[None]"
            )
        n, c, h, w = x.shape
        oh, ow = pool_output_size(h, self.extent, self.stride), pool_output_size(w, self.extent, self.stride)
        windows = F.unfold(x.reshape(n * c, 1, h, w), self.extent, stride=self.stride)  # (N·C, F², H'·W')
        a = windows.clamp_min(0)
        total = a.sum(1, keepdim=True)
        p = torch.where(total > 0, a / total.clamp_min(1e-12), torch.zeros_like(a))  # (N·C, F², L)
        if self.training:
            # one draw per window: the first index whose cumulative probability exceeds u
            u = torch.rand(p.shape[0], 1, p.shape[2], device=x.device, dtype=p.dtype)
            pick = (p.cumsum(1) < u).sum(1, keepdim=True).clamp_max(p.shape[1] - 1)  # (N·C, 1, L)
            out = windows.gather(1, pick) * (total > 0)
        else:
            out = (p * windows).sum(1, keepdim=True)
        return out.reshape(n, c, oh, ow)  # (N, C, H', W')

    def extra_repr(self) -> str:
        return f"extent={self.extent}, stride={self.stride}"


def make_pool(kind: str, extent: int = 2, stride: int | None = None, p: float = 2.0) -> nn.Module:
    """A pooling layer by name: max, avg, lp (with ``p``) or stochastic.

    >>> make_pool("max", 2)
    MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    >>> make_pool("avg", 3, stride=2)
    AvgPool2d(kernel_size=3, stride=2, padding=0)
    """
    if kind not in POOLS:
        raise CnnlabError(f"unknown pooling {kind!r}; use {', '.join(POOLS)}")
    extent, stride = _window(extent, stride)
    if kind == "max":
        return nn.MaxPool2d(extent, stride)
    if kind == "avg":
        return nn.AvgPool2d(extent, stride)
    if kind == "lp":
        return nn.LPPool2d(p, extent, stride)
    return StochasticPool2d(extent, stride)
