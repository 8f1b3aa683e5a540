"""Pooling layers (lecture 9: "Max Pooling", "Average Pooling", "Other types of pooling exist").

Hyperparameters, as in the lecture: the spatial extent F and the stride S. Output size, for
an input of H (with P zeros of padding on each side):

    H' = floor((H + 2P − F) / S) + 1        e.g. F = 2, S = 2: 28 -> 14;  F = 3, S = 2: 13 -> 6

Max and average pooling are torch's own (``nn.MaxPool2d``, ``nn.AvgPool2d``), and so is
LP-pooling (``nn.LPPool2d``: (Σ xᵖ)^(1/p) over the window; p = 1 is sum pooling, p → ∞ max).
Stochastic pooling (Zeiler & Fergus 2013), which torch lacks, is here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab.nn.locally_connected import conv_output_size


def pool_output_size(size: int, extent: int, stride: int | None = None, padding: int = 0) -> int:
    """The output size of a pooling layer: floor((H + 2P − F) / S) + 1 (stride defaults to F)."""
    return conv_output_size(size, extent, stride or extent, 2 * padding)


class StochasticPool2d(nn.Module):
    """Stochastic pooling: in training, each window outputs one of its activations, drawn with
    probability proportional to its value; at test time, the probability-weighted average
    Σ pᵢ aᵢ with pᵢ = aᵢ / Σ aⱼ. Meant for non-negative inputs (after a ReLU); a window of
    zeros outputs 0.
    """

    def __init__(self, extent: int = 2, stride: int | None = None) -> None:
        super().__init__()
        self.extent = extent
        self.stride = stride or extent

    def forward(self, x: Tensor) -> Tensor:
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
    """A pooling layer by name: max, avg, lp (with ``p``) or stochastic."""
    stride = stride or extent
    if kind == "max":
        return nn.MaxPool2d(extent, stride)
    if kind == "avg":
        return nn.AvgPool2d(extent, stride)
    if kind == "lp":
        return nn.LPPool2d(p, extent, stride)
    if kind == "stochastic":
        return StochasticPool2d(extent, stride)
    raise ValueError(f"unknown pooling {kind!r}; use max, avg, lp or stochastic")
