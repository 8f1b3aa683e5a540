"""Feature visualization by gradient ascent on the input (Olah et al., Distill 2017).

Start from noise and repeatedly change the image to increase an objective: the model's
weights are frozen (no gradients computed for them), the image is parameterized (``param.py``),
transformed at random each step (``transforms.py``), normalized as the model's training data
was, and optimized with Adam. Snapshots at chosen steps (the lecture's slide: 0, 4, 48, 2048)
show the image forming.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.viz.layers import capture, check_channel, get_layer
from cnnlab.viz.objectives import OUTPUT, Objective
from cnnlab.viz.param import make_param
from cnnlab.viz.transforms import standard

if TYPE_CHECKING:
    from cnnlab.display import Picture

DEFAULT_SNAPSHOTS = (0, 4, 48, 2048)


@dataclass(frozen=True)
class RenderConfig:
    steps: int = 512  # optimization steps
    lr: float = 0.05  # Adam's learning rate on the parameterization
    snapshots: tuple[int, ...] = DEFAULT_SNAPSHOTS  # steps to keep images of (beyond `steps` are dropped)
    batch: int = 1  # images optimized together (use with a diversity term)
    param: str = "fourier"  # fourier | pixels
    decorrelate: bool = True  # colour decorrelation (3-channel inputs)
    transforms: bool = True  # transformation robustness
    small_transforms: bool = True  # stronger ones for images under 64 px (transforms.standard)
    seed: int = 0
    # image priors (Yosinski et al. 2015, "Understanding neural networks through deep visualization"):
    decay: float = 0.01  # L2 decay: every step, move the image this fraction of the way to the data mean
    blur_every: int = 4  # Gaussian blur of the image every this many steps (0: never)
    blur_sigma: float = 0.5  # the blur's standard deviation, in pixels
    # decay and blur_sigma are for Fourier images up to prior_side pixels; a larger one (side S)
    # gets decay·(prior_side/S)² and blur_sigma·prior_side/S (see prior_strength; 0: never scaled)
    prior_side: int = 128
    # Yosinski et al.'s clipping, every clip_every steps (off by default: it did not help LeNet-5's
    # class images, benchmarks/viz_likeness.py): the pixels whose norm (distance from the data
    # mean, over channels) is in the lowest clip_norm fraction, and those whose contribution
    # |Σ_c (x − mean)·∂objective/∂x| is in the lowest clip_contribution fraction, go to the mean
    clip_every: int = 4
    clip_norm: float = 0.0  # fraction of pixels, in [0, 1)
    clip_contribution: float = 0.0  # fraction of pixels, in [0, 1)

    def prior_strength(self, side: int) -> tuple[float, float]:
        """(decay, blur σ) for a Fourier image of ``side`` pixels (its larger side).

        On the Fourier parameterization a pattern that fills the image is carried by spectrum
        coefficients that grow with the side (orthonormal FFT), while Adam moves each coefficient
        by about its learning rate per step: a decay and blur that suit 128 px hold a 224-px image
        back (ResNet-18 layer3:7 at 512 steps: objective 0.382 against Lucent's 0.587 with them
        unscaled, before this rule; 0.651 with it, benchmarks/results/viz_quality_224.json; scaling
        the decay by 128/S only, as the coefficients' growth alone would suggest, was not enough
        in a trial run). Images up to ``prior_side`` keep the values as given: MNIST's class
        images were tuned at 28 px (benchmarks/viz_likeness.py) and 128 px measured with them
        (viz_quality.json).
        """
        if not self.prior_side or side <= self.prior_side or self.param != "fourier":
            return self.decay, self.blur_sigma
        k = self.prior_side / side
        return self.decay * k * k, self.blur_sigma * k

    def __post_init__(self) -> None:
        if not 0 <= self.decay <= 1:
            raise CnnlabError(f"decay must be a fraction in [0, 1], got {self.decay}")
        if self.blur_every < 0:
            raise CnnlabError(f"blur_every must be 0 (no blur) or a number of steps, got {self.blur_every}")
        if self.blur_every and not self.blur_sigma > 0:
            raise CnnlabError(f"blur_sigma must be positive (pixels), got {self.blur_sigma}; or set blur_every=0")
        for name in ("clip_norm", "clip_contribution"):
            if not 0 <= getattr(self, name) < 1:
                raise CnnlabError(f"{name} must be a fraction of pixels in [0, 1), got {getattr(self, name)}")
        if self.clip_every < 1:
            raise CnnlabError(f"clip_every must be a number of steps (at least 1), got {self.clip_every}")
        if self.prior_side < 0:
            raise CnnlabError(f"prior_side must be 0 (never scale) or a number of pixels, got {self.prior_side}")
        if self.batch < 1:
            raise CnnlabError(f"batch must be at least 1, got {self.batch}")


@dataclass(repr=False)
class RenderResult:
    """What :func:`render` returns; in a notebook it shows its snapshots, a column per step.

    ``picture()`` is that view (Pillow only), ``figure()`` the matplotlib figure that
    ``cnnlab viz features`` writes; both are :class:`~cnnlab.display.Picture` objects.
    """

    snapshots: dict[int, np.ndarray]  # step -> (B, C, H, W) in [0, 1]
    start_value: float  # objective (batch mean) on the initial image, no transforms
    end_value: float  # objective on the final image, no transforms
    history: list[float] = field(default_factory=list)  # objective per step (with transforms)
    seconds: float = 0.0

    @property
    def final(self) -> np.ndarray:
        return self.snapshots[max(self.snapshots)]

    def __repr__(self) -> str:
        steps = sorted(self.snapshots)
        shape = "×".join(map(str, self.final.shape))
        return (
            f"<RenderResult {shape} at steps {', '.join(map(str, steps))}: objective "
            f"{self.start_value:.4g} -> {self.end_value:.4g} in {self.seconds:.1f} s>"
        )

    def picture(self, title: str | None = None, labels: list[str] | None = None) -> Picture:
        """The snapshots: a row per image of the batch, a column per step, each labelled with
        its step (the lecture's "Step 0, Step 4, Step 48, Step 2048")."""
        from cnnlab.display import Picture, compose, to_rgb
        from cnnlab.viz.images import chw_to_hwc

        steps = sorted(self.snapshots)
        batch = self.final.shape[0]
        tiles = [to_rgb(chw_to_hwc(self.snapshots[s][b]), signed=False, peak=1.0) for b in range(batch) for s in steps]
        names = [f"{labels[b] + ': ' if labels else ''}step {s}" for b in range(batch) for s in steps]
        if title is None:
            title = f"objective {self.start_value:.3g} -> {self.end_value:.3g}"
        return Picture(compose(tiles, names, title, cols=len(steps)), title)

    def figure(self, title: str = "", row_labels: list[str] | None = None) -> Picture:
        """The matplotlib figure ``cnnlab viz features`` writes (needs the ``plot`` extra)."""
        from cnnlab.viz.figures import picture, snapshots_figure

        return picture(snapshots_figure(self, title, row_labels), title)

    def _repr_png_(self) -> bytes:
        return self.picture().png()


@contextlib.contextmanager
def frozen(model: nn.Module):
    """Eval mode and no weight gradients for the duration; restored afterwards."""
    was = model.training
    flags = [p.requires_grad for p in model.parameters()]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield model
    finally:
        model.train(was)
        for p, f in zip(model.parameters(), flags):
            p.requires_grad_(f)


class _Stop(Exception):
    """Raised by a forward hook once every layer the objective needs has run."""


class _Runner:
    """One model call with the objective's layers captured. When the objective needs only inner
    layers (not the output), the forward pass stops right after the last of them has run: the
    layers above cost nothing, forward or backward (ResNet-18's layer3: layer4 and fc skipped)."""

    def __init__(self, model: nn.Module, objective: Objective, input_shape, mean, std, device) -> None:
        self.model, self.objective = model, objective
        self.layers = sorted(objective.layers - {OUTPUT})
        self.needs_output = OUTPUT in objective.layers or not self.layers
        for name in self.layers:
            get_layer(model, name)  # fail early with the list of layer names
        self.size = tuple(input_shape[1:])
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1)

    def __call__(self, image: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.size:  # transforms changed the size; models with a fixed input need it back
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        x = (x - self.mean) / self.std
        if self.needs_output:
            with capture(self.model, self.layers) as acts:
                acts[OUTPUT] = self.model(x)
        else:
            with capture(self.model, self.layers, stop=_Stop) as acts, contextlib.suppress(_Stop):
                self.model(x)
        return self.objective(acts, image)  # (B,)


def render(
    model: nn.Module,
    objective: Objective,
    input_shape: tuple[int, ...],
    mean: tuple[float, ...],
    std: tuple[float, ...],
    cfg: RenderConfig = RenderConfig(),
    progress=None,
) -> RenderResult:
    """Optimize images to maximize ``objective``; ``input_shape`` is the model's (C, H, W),
    ``mean``/``std`` its input normalization (per channel, in [0, 1] units). The result shows
    its snapshots in a notebook.

    >>> from cnnlab.models import create
    >>> from cnnlab.viz import objectives
    >>> result = render(create("lenet5"), objectives.channel("C3", 0), (1, 28, 28), (0.1307,), (0.3081,),
    ...                 RenderConfig(steps=8, snapshots=(0, 4)))
    >>> sorted(result.snapshots), result.final.shape, result.end_value > result.start_value
    ([0, 4, 8], (1, 1, 28, 28), True)
    """
    if cfg.steps < 0:
        raise CnnlabError(f"--steps must be non-negative, got {cfg.steps}")
    device = next(model.parameters()).device
    c, h, w = input_shape
    param = make_param(cfg.param, (cfg.batch, c, h, w), cfg.seed, device, cfg.decorrelate)
    transform = standard(max(h, w), cfg.small_transforms) if cfg.transforms else (lambda x, g: x)
    g = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(param.parameters(), lr=cfg.lr)
    target = torch.tensor(mean, dtype=torch.float32, device=device).expand(c)  # decay toward the data mean
    decay, sigma = cfg.prior_strength(max(h, w))
    keep = sorted({s for s in cfg.snapshots if 0 <= s <= cfg.steps} | {cfg.steps})
    snapshots: dict[int, np.ndarray] = {}
    history: list[float] = []
    with frozen(model):
        run = _Runner(model, objective, input_shape, mean, std, device)
        with torch.no_grad():
            image = param.image()
            first = run(image, image)
        start = time.perf_counter()
        for step in range(cfg.steps + 1):
            image = param.image()
            if step in keep:
                snapshots[step] = image.detach().float().cpu().numpy()
            if step == cfg.steps:
                break
            clip = (cfg.clip_norm or cfg.clip_contribution) and (step + 1) % cfg.clip_every == 0
            if clip and cfg.clip_contribution:
                image.retain_grad()
            value = run(image, transform(image, g)).mean()
            opt.zero_grad(set_to_none=True)
            (-value).backward()
            opt.step()
            if decay:
                param.decay_(decay, target)
            if cfg.blur_every and (step + 1) % cfg.blur_every == 0:
                param.blur_(sigma)
            if clip:
                param.clip_(_clip_mask(image, target, cfg), target)
            history.append(value.item() if progress is not None or step % 16 == 0 else math.nan)
            if progress is not None:
                progress(step + 1, history[-1])
        seconds = time.perf_counter() - start
        with torch.no_grad():
            last = run(param.image(), param.image())
    return RenderResult(snapshots, first.mean().item(), last.mean().item(), history, seconds)


def _grad(t: torch.Tensor) -> torch.Tensor:
    if t.grad is None:
        raise RuntimeError("clip_contribution needs the image's gradient from this step")
    return t.grad


@torch.no_grad()
def _clip_mask(image: torch.Tensor, target: torch.Tensor, cfg: RenderConfig) -> torch.Tensor:
    """(B, 1, H, W): the pixels Yosinski et al. (2015) clip, those of smallest norm and those of
    smallest contribution to the objective (its first-order change when the pixel goes to the mean)."""
    d = image - target.view(1, -1, 1, 1)  # (B, C, H, W)
    mask = torch.zeros_like(d[:, :1], dtype=torch.bool)
    for fraction, score in (
        (cfg.clip_norm, lambda: d.norm(dim=1, keepdim=True)),
        (cfg.clip_contribution, lambda: (d * _grad(image)).sum(1, keepdim=True).abs()),
    ):
        if fraction:
            v = score().flatten(1)  # (B, H·W)
            cut = v.quantile(fraction, dim=1, keepdim=True)
            mask |= (v <= cut).view_as(mask)
    return mask


def check_objective_target(model: nn.Module, input_shape, layer: str, channel: int) -> None:
    """One clear line when ``channel`` does not exist in ``layer``."""
    with capture(model, [layer]) as acts, torch.no_grad(), frozen(model):
        model(torch.zeros(1, *input_shape, device=next(model.parameters()).device))
    check_channel(layer, acts[layer], channel)
