"""Image parameterizations for feature visualization (Olah et al., "Feature Visualization",
Distill 2017, section "Preconditioning and parameterization").

Both return images in [0, 1] (a sigmoid at the end), of any channel count:

* ``Pixels``: the pixels themselves are the parameters;
* ``Fourier``: the parameters are a 2-D spectrum scaled by 1/frequency, so steps change all
  frequencies equally (decorrelates the gradient); for 3 channels the colours are also
  decorrelated with Lucid's measured ImageNet colour correlation.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

# Lucid's colour correlation (sqrt of the ImageNet colour covariance, normalized)
COLOR_CORRELATION = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOR_CORRELATION = COLOR_CORRELATION / COLOR_CORRELATION.norm(dim=0).max()


class Pixels:
    def __init__(
        self, shape: tuple[int, ...], generator: torch.Generator, sd: float = 0.01, device: str | torch.device = "cpu"
    ) -> None:
        self.raw = (torch.randn(shape, generator=generator) * sd).to(device).requires_grad_()

    def parameters(self) -> list[Tensor]:
        return [self.raw]

    def image(self) -> Tensor:
        return torch.sigmoid(self.raw)  # (B, C, H, W) in [0, 1]


class Fourier:
    def __init__(
        self,
        shape: tuple[int, ...],
        generator: torch.Generator,
        sd: float = 0.01,
        decay: float = 1.0,
        decorrelate: bool = True,
        device: str | torch.device = "cpu",
    ) -> None:
        b, c, h, w = shape
        self.shape = shape
        fy = np.fft.fftfreq(h)[:, None]
        fx = np.fft.rfftfreq(w)[None, :]
        freq = np.sqrt(fx * fx + fy * fy)  # (H, W//2+1)
        scale = 1.0 / np.maximum(freq, 1.0 / max(h, w)) ** decay
        scale = scale * np.sqrt(h * w)
        self.scale = torch.tensor(scale, dtype=torch.float32, device=device)
        self.spectrum = (torch.randn(b, c, h, w // 2 + 1, 2, generator=generator) * sd).to(device).requires_grad_()
        self.decorrelate = decorrelate and c == 3

    def parameters(self) -> list[Tensor]:
        return [self.spectrum]

    def image(self) -> Tensor:
        b, c, h, w = self.shape
        spec = torch.view_as_complex(self.spectrum) * self.scale
        img = torch.fft.irfft2(spec, s=(h, w), norm="ortho") / 4.0  # (B, C, H, W)
        if self.decorrelate:
            img = torch.einsum("bchw,dc->bdhw", img, COLOR_CORRELATION.to(img.device))
        return torch.sigmoid(img)


def make_param(
    kind: str, shape: tuple[int, ...], seed: int = 0, device: str | torch.device = "cpu", decorrelate: bool = True
):
    g = torch.Generator().manual_seed(seed)
    if kind == "pixels":
        return Pixels(shape, g, device=device)
    if kind == "fourier":
        return Fourier(shape, g, decorrelate=decorrelate, device=device)
    from cnnlab.errors import CnnlabError

    raise CnnlabError(f"unknown parameterization {kind!r}; use fourier or pixels")
