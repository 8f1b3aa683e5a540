"""Image parameterizations for feature visualization (Olah et al., "Feature Visualization",
Distill 2017, section "Preconditioning and parameterization").

Both return images in [0, 1] (a sigmoid at the end), of any channel count, and both start as
faint noise around mid-grey (pixel standard deviation well under 0.01), so the first snapshot
shows where the optimization starts, not an already-saturated image:

* ``Pixels``: the pixels themselves (through a sigmoid) are the parameters. Adam moves every
  parameter by about its learning rate per step whatever the gradient's size, so the sigmoid's
  input is scaled by ``gain`` (0.6): with the decay toward the data mean that keeps pixels off
  the sigmoid's flat ends (issue 13: ≤ 2% saturated after 512 steps on a random conv net).
* ``Fourier``: the parameters are a 2-D spectrum scaled by 1/frequency, so that a step changes
  all spatial frequencies about equally (it decorrelates the gradient, a kind of whitening);
  for 3 channels the colours are also decorrelated with Lucid's measured ImageNet colour
  correlation. The inverse FFT is orthonormal, so the image's scale does not grow with its
  size (an earlier version multiplied by sqrt(H·W) on top of ``norm="ortho"``: 128× too fast at
  128×128, and 27% of pixels clipped before the first step at 224×224, issue 13).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from cnnlab.errors import CnnlabError

# Lucid's colour correlation (sqrt of the ImageNet colour covariance), columns scaled to norm <= 1
COLOR_CORRELATION = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOR_CORRELATION = COLOR_CORRELATION / COLOR_CORRELATION.norm(dim=0).max()


class Pixels:
    def __init__(
        self,
        shape: tuple[int, ...],
        generator: torch.Generator,
        sd: float = 0.01,
        gain: float = 0.6,
        device: str | torch.device = "cpu",
    ) -> None:
        self.gain = gain
        self.raw = (torch.randn(shape, generator=generator) * sd / gain).to(device).requires_grad_()

    def parameters(self) -> list[Tensor]:
        return [self.raw]

    def image(self) -> Tensor:
        return torch.sigmoid(self.gain * self.raw)  # (B, C, H, W) in [0, 1]

    @torch.no_grad()
    def blur_(self, sigma: float) -> None:
        """Gaussian blur of the image (in the sigmoid's input), in place."""
        k = _gaussian_kernel(sigma).to(self.raw)  # (K,)
        b, c, h, w = self.raw.shape
        x = self.raw.reshape(b * c, 1, h, w)
        r = k.numel() // 2
        x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
        x = F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))
        self.raw.copy_(x.reshape(b, c, h, w))

    @torch.no_grad()
    def decay_(self, fraction: float, target: Tensor) -> None:
        """Move the image a ``fraction`` of the way to the colour ``target`` (C,) in [0, 1], in the
        sigmoid's input (logit) space."""
        t = torch.logit(target.clamp(0.02, 0.98)).to(self.raw).view(1, -1, 1, 1) / self.gain
        self.raw.lerp_(t.expand_as(self.raw), fraction)

    @torch.no_grad()
    def clip_(self, mask: Tensor, target: Tensor) -> None:
        """Set the pixels where ``mask`` (B, 1, H, W) is true to the colour ``target`` (C,) in [0, 1]."""
        t = torch.logit(target.clamp(0.02, 0.98)).to(self.raw).view(1, -1, 1, 1) / self.gain
        self.raw.copy_(torch.where(mask, t, self.raw))


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
        freq = np.sqrt(fx * fx + fy * fy)  # (H, W//2+1), cycles per pixel
        scale = 1.0 / np.maximum(freq, 1.0 / max(h, w)) ** decay  # 1/f, capped at the lowest frequency
        self.scale = torch.tensor(scale, dtype=torch.float32, device=device)
        self.freq2 = torch.tensor(freq * freq, dtype=torch.float32, device=device)
        self.spectrum = (torch.randn(b, c, h, w // 2 + 1, 2, generator=generator) * sd).to(device).requires_grad_()
        self.decorrelate = decorrelate and c == 3

    def parameters(self) -> list[Tensor]:
        return [self.spectrum]

    def image(self) -> Tensor:
        return torch.sigmoid(self.logits())

    def logits(self) -> Tensor:
        """The image before the sigmoid, (B, C, H, W)."""
        b, c, h, w = self.shape
        spec = torch.view_as_complex(self.spectrum) * self.scale  # (B, C, H, W//2+1)
        img = torch.fft.irfft2(spec, s=(h, w), norm="ortho") / 4.0  # (B, C, H, W); Lucid's constant 4
        if self.decorrelate:
            img = torch.einsum("bchw,dc->bdhw", img, COLOR_CORRELATION.to(img.device))
        return img

    @torch.no_grad()
    def clip_(self, mask: Tensor, target: Tensor) -> None:
        """Set the pixels where ``mask`` (B, 1, H, W) is true to the colour ``target`` (C,) in [0, 1]:
        the image is changed in pixel space and transformed back to the spectrum (exact: the
        orthonormal FFT of a real image is its half spectrum)."""
        b, c, h, w = self.shape
        logit = torch.logit(target.clamp(0.02, 0.98)).to(self.spectrum).view(1, -1, 1, 1)
        img = torch.where(mask, logit, self.logits())  # (B, C, H, W)
        if self.decorrelate:
            img = torch.einsum("bdhw,cd->bchw", img, torch.linalg.inv(COLOR_CORRELATION.to(img)))
        spec = torch.fft.rfft2(img * 4.0, norm="ortho") / self.scale  # (B, C, H, W//2+1)
        self.spectrum.copy_(torch.view_as_real(spec))

    @torch.no_grad()
    def blur_(self, sigma: float) -> None:
        """Gaussian blur of the image, exactly, as the Gaussian's transfer function on the spectrum."""
        self.spectrum.mul_(self.gauss(sigma)[..., None])

    def gauss(self, sigma: float) -> Tensor:
        return torch.exp(-2 * (np.pi * sigma) ** 2 * self.freq2)  # (H, W//2+1)

    @torch.no_grad()
    def decay_(self, fraction: float, target: Tensor) -> None:
        """Move the image a ``fraction`` of the way to the colour ``target`` (C,) in [0, 1], in the
        sigmoid's input (logit) space: the spectrum shrinks toward the one of a flat image of that
        colour (only its DC term)."""
        b, c, h, w = self.shape
        logit = torch.logit(target.clamp(0.02, 0.98)).to(self.spectrum).view(-1)  # (C,)
        if self.decorrelate:
            logit = torch.linalg.solve(COLOR_CORRELATION.to(logit), logit)
        goal = torch.zeros_like(self.spectrum)
        # a flat image v is the DC coefficient v·sqrt(H·W) of the orthonormal transform, ×4 (Lucid's constant)
        goal[:, :, 0, 0, 0] = (logit * 4.0 * np.sqrt(h * w) / self.scale[0, 0]).view(1, -1)
        self.spectrum.lerp_(goal, fraction)


def _gaussian_kernel(sigma: float) -> Tensor:
    r = max(1, int(np.ceil(3 * sigma)))
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()  # (2r+1,)


def make_param(
    kind: str, shape: tuple[int, ...], seed: int = 0, device: str | torch.device = "cpu", decorrelate: bool = True
) -> Pixels | Fourier:
    g = torch.Generator().manual_seed(seed)
    if kind == "pixels":
        return Pixels(shape, g, device=device)
    if kind == "fourier":
        return Fourier(shape, g, decorrelate=decorrelate, device=device)
    raise CnnlabError(f"unknown parameterization {kind!r}; use fourier or pixels")
