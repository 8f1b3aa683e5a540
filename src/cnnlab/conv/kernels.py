"""A library of classic filters, starting with the four on the lecture's slides.

"What does this filter do?" (lecture 9) — each kernel here is named for its answer and
carries a one-line description.

Kernels are stored exactly as printed on the slides (integers, not normalized). How to
*display* a filtered image is decided per kernel, by what its weights sum to:

* ``"normalize"`` — weights with a positive sum (blur, sharpen, box, Gaussian, emboss,
  identity): the output is divided by that sum, so flat regions keep their brightness, and
  clipped to [0, 255]. The lecture's blur sums to 8 and its sharpen to 4.
* ``"signed"`` — zero-sum kernels (Laplacian, Sobel, Prewitt, Scharr) respond with both signs
  and give 0 on flat regions: 0 is shown as mid-grey (128), and ± the 99.5th percentile of
  |response| as white/black (stronger responses are clipped; scaling by the single largest
  response would leave most edges invisible).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cnnlab.errors import CnnlabError


@dataclass(frozen=True)
class Kernel:
    name: str  # e.g. "sobel-x"
    weights: np.ndarray  # (kh, kw) float64, as printed (not normalized)
    description: str  # what it does, in one line
    display: str  # "normalize" or "signed" (see the module doc)
    lecture: bool = False  # one of the four filters on the lecture's slides

    @property
    def shape(self) -> tuple[int, int]:
        kh, kw = self.weights.shape
        return kh, kw


MAX_SIZE = 1025  # kernel side; larger ones are a typo (gaussian:1e6) and would not fit in memory


def _k(rows) -> np.ndarray:
    return np.array(rows, dtype=np.float64)


def gaussian(sigma: float = 1.0, size: int | None = None) -> np.ndarray:
    """A normalized 2-D Gaussian of standard deviation ``sigma`` (pixels); size defaults to
    the odd number covering ±3σ."""
    if not math.isfinite(sigma) or sigma <= 0:
        raise CnnlabError(f"gaussian sigma must be a positive finite number of pixels, got {sigma}; e.g. gaussian:2")
    size = 2 * math.ceil(3 * sigma) + 1 if size is None else size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise CnnlabError(f"gaussian size must be a whole number of at least 1, got {size}; e.g. gaussian:2:9")
    if size > MAX_SIZE:
        raise CnnlabError(f"gaussian size {size} is larger than {MAX_SIZE}; use a smaller sigma or give the size")
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    g2 = np.outer(g, g)
    return g2 / g2.sum()


def box(size: int = 3) -> np.ndarray:
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_SIZE:
        raise CnnlabError(f"box size must be a whole number from 1 to {MAX_SIZE}, got {size}; e.g. box:5")
    return np.ones((size, size)) / size**2


def _sign_display(w: np.ndarray) -> str:
    return "signed" if abs(w.sum()) < 1e-12 else "normalize"


KERNELS: dict[str, Kernel] = {}


def _add(name: str, weights: np.ndarray, description: str, lecture: bool = False) -> None:
    KERNELS[name] = Kernel(name, weights, description, _sign_display(weights), lecture)


# the four on the lecture's slides
_add(
    "blur",
    _k([[0, 1, 0], [1, 4, 1], [0, 1, 0]]),
    "blur: each pixel becomes a weighted average of itself and its 4 neighbours (lecture)",
    True,
)
_add(
    "sharpen",
    _k([[0, -1, 0], [-1, 8, -1], [0, -1, 0]]),
    "sharpen: the pixel plus its difference from its neighbours, which boosts edges (lecture)",
    True,
)
_add(
    "laplacian",
    _k([[0, -1, 0], [-1, 4, -1], [0, -1, 0]]),
    "edge detector (Laplacian): responds where intensity changes in any direction, 0 on flat areas (lecture)",
    True,
)
_add(
    "sobel-x",
    _k([[1, 0, -1], [2, 0, -2], [1, 0, -1]]),
    "vertical edges (Sobel): the horizontal intensity gradient, smoothed vertically (lecture)",
    True,
)
# the usual others
_add("identity", _k([[0, 0, 0], [0, 1, 0], [0, 0, 0]]), "identity: leaves the image unchanged")
_add("box", box(3), "box blur: the plain 3×3 average (box:N for N×N)")
_add("gaussian", gaussian(1.0), "Gaussian blur, σ = 1 px, 7×7 (gaussian:SIGMA or gaussian:SIGMA:SIZE)")
_add(
    "sobel-y",
    _k([[1, 2, 1], [0, 0, 0], [-1, -2, -1]]),
    "horizontal edges (Sobel): the vertical intensity gradient, smoothed horizontally",
)
_add(
    "prewitt-x",
    _k([[1, 0, -1], [1, 0, -1], [1, 0, -1]]),
    "vertical edges (Prewitt): like Sobel-x with uniform smoothing",
)
_add(
    "prewitt-y",
    _k([[1, 1, 1], [0, 0, 0], [-1, -1, -1]]),
    "horizontal edges (Prewitt): like Sobel-y with uniform smoothing",
)
_add(
    "scharr-x",
    _k([[3, 0, -3], [10, 0, -10], [3, 0, -3]]),
    "vertical edges (Scharr): a Sobel with better rotational symmetry",
)
_add(
    "scharr-y",
    _k([[3, 10, 3], [0, 0, 0], [-3, -10, -3]]),
    "horizontal edges (Scharr): a Sobel with better rotational symmetry",
)
_add(
    "laplacian-8",
    _k([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
    "edge detector (8-neighbour Laplacian): also responds along diagonals",
)
_add(
    "emboss",
    _k([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
    "emboss: a diagonal gradient added to the image, as if lit from the top left",
)
_add("motion-blur", np.eye(9) / 9, "motion blur: averages along the diagonal, like a camera moving while exposed")


def get_kernel(spec: str) -> Kernel:
    """A kernel by name, or a parameterized one: ``gaussian:SIGMA[:SIZE]``, ``box:N``."""
    name, _, params = spec.partition(":")
    if name not in KERNELS:
        raise CnnlabError(f"unknown kernel {spec!r}; `cnnlab filter --list` shows them ({', '.join(KERNELS)})")
    if not params:
        return KERNELS[name]
    try:
        values = [float(v) for v in params.split(":")]
    except ValueError:
        raise CnnlabError(f"bad kernel parameters in {spec!r}; use e.g. gaussian:2, gaussian:2:9 or box:5") from None
    if name == "gaussian" and 1 <= len(values) <= 2:
        size = _whole(values[1], spec) if len(values) == 2 else None
        return Kernel(spec, gaussian(values[0], size), f"Gaussian blur, σ = {values[0]:g} px", "normalize")
    if name == "box" and len(values) == 1:
        n = _whole(values[0], spec)
        return Kernel(spec, box(n), f"box blur, {n}×{n}", "normalize")
    raise CnnlabError(f"kernel {name!r} takes no parameters like {spec!r}; only gaussian:SIGMA[:SIZE] and box:N do")


def _whole(value: float, spec: str) -> int:
    if not math.isfinite(value) or value != int(value):
        raise CnnlabError(f"kernel size in {spec!r} must be a whole number, got {value:g}; e.g. box:5 or gaussian:2:9")
    return int(value)


def load_kernel_file(path: str) -> Kernel:
    """A custom kernel from a ``.npy`` file or a text file of whitespace/comma-separated rows."""
    from pathlib import Path

    p = Path(path)
    try:
        weights = (
            np.load(p)
            if p.suffix == ".npy"
            else np.loadtxt(p, delimiter="," if "," in p.read_text() else None, ndmin=2)
        )
    except FileNotFoundError:
        raise CnnlabError(f"kernel file {path} not found") from None
    except (ValueError, OSError) as e:
        raise CnnlabError(
            f"kernel file {path} is not a numeric matrix ({e}); write one row per line, numbers separated by spaces or commas"
        ) from None
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2 or weights.size == 0 or not np.isfinite(weights).all():
        raise CnnlabError(
            f"kernel file {path} must hold a non-empty 2-D matrix of finite numbers, got shape {weights.shape}"
        )
    return Kernel(p.stem, weights, f"custom kernel from {p.name}", _sign_display(weights))
