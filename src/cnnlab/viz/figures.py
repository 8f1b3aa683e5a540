"""The figures people look at, labelled (matplotlib, drawn off-screen) and written atomically.

* ``snapshots_figure``: an image optimized from noise, one column per snapshot, each titled
  with its step (the lecture's "Step 0, Step 4, Step 48, Step 2048");
* ``examples_figure``: the top dataset examples of a unit, its receptive field outlined, and
  the patches under it; where a field runs past the image border the patch shows
  ``OUTSIDE`` (a blue-grey checkerboard no image pixel can be mistaken for), not ink;
* ``pair_figure``: Distill's comparison, dataset examples beside the optimized image
  ("Baseball—or stripes?"), the optimized unit's receptive field outlined on both sides;
* ``weights_figure``: signed weights on one diverging colour map (``DIVERGING``: blue < 0,
  white = 0, red > 0, symmetric at ± the largest |weight|) with a colour bar, the same map
  the ``cnnlab serve`` page uses.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from cnnlab import atomic
from cnnlab.display import Picture
from cnnlab.extras import require
from cnnlab.viz.images import DIVERGING, chw_to_hwc

if TYPE_CHECKING:
    from matplotlib.figure import Figure


# What the figures read of a render result and of top examples. They are described here, not
# imported: render.py and examples.py draw themselves with these figures, so this module sits
# below them.
class RenderResult(Protocol):  # cnnlab.viz.render.RenderResult
    snapshots: dict[int, np.ndarray]  # step -> (B, C, H, W) in [0, 1]

    @property
    def final(self) -> np.ndarray: ...


class TopExamples(Protocol):  # cnnlab.viz.examples.TopExamples (frozen: read-only here too)
    @property
    def indices(self) -> list[int]: ...  # dataset indices, strongest first

    @property
    def values(self) -> list[float]: ...  # the unit's activation for each

    @property
    def fields(self) -> Any: ...  # each one's receptive field (one (start, stop) per spatial axis), or None


Box = tuple[tuple[int, int], tuple[int, int]]  # ((y0, y1), (x0, x1)), [lo, hi), may run past the border

OUTSIDE = (np.array([0.70, 0.76, 0.90]), np.array([0.55, 0.62, 0.80]))  # checkerboard: "no image here"
BOX = "#ff3b30"  # receptive-field outline
SEPARATOR = "#3a3a3a"  # between weight maps


def new_figure(**kwargs) -> Figure:
    """A matplotlib figure made without pyplot: nothing global changes (a notebook keeps its
    own backend and shows only what it is given), and it is freed with its last reference."""
    require("matplotlib", "plot", "this figure")
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def save(fig: Figure, path: str | Path) -> None:
    """Write ``fig`` as a PNG, atomically."""
    atomic.write_with(path, lambda tmp: fig.savefig(tmp, format="png"))


def picture(fig: Figure, caption: str = "") -> Picture:
    """``fig`` as a :class:`~cnnlab.display.Picture`: shown inline, ``.save(path)``."""
    return Picture.from_figure(fig, caption)


def outside_pattern(h: int, w: int, check: int = 2) -> np.ndarray:
    """(H, W, 3) checkerboard in the two ``OUTSIDE`` colours."""
    yy, xx = np.mgrid[0:h, 0:w]
    odd = ((yy // check + xx // check) % 2).astype(bool)
    return np.where(odd[..., None], OUTSIDE[1], OUTSIDE[0])


def padded_patch(image: np.ndarray, box: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    """The (H, W) or (H, W, 3) ``image`` under ``box`` = ((y0, y1), (x0, x1)), which may run past the
    border: (y1-y0, x1-x0, 3), pixels outside the image drawn as ``outside_pattern``."""
    (y0, y1), (x0, x1) = box
    rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
    out = outside_pattern(y1 - y0, x1 - x0)
    h, w = rgb.shape[:2]
    sy0, sy1, sx0, sx1 = max(0, y0), min(h, y1), max(0, x0), min(w, x1)
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    return out


def _show(ax, img: np.ndarray) -> None:
    ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def snapshots_figure(
    result: RenderResult, title: str = "", row_labels: list[str] | None = None, field: Box | None = None
) -> Figure:
    """A row per image of the batch, a column per snapshot step, each column titled with its step;
    ``field`` (a receptive-field box) is outlined on every snapshot."""
    steps = sorted(result.snapshots)
    rows = result.final.shape[0]
    fig = new_figure(figsize=(1.45 * len(steps) + (0.5 if row_labels else 0), 1.45 * rows + 0.55))
    axes = fig.subplots(rows, len(steps), squeeze=False)
    for b in range(rows):
        for j, s in enumerate(steps):
            ax = axes[b, j]
            img = chw_to_hwc(result.snapshots[s][b])
            _show(ax, img)
            if field is not None:
                _outline(ax, field, img.shape)
            if b == 0:
                ax.set_title(f"step {s}", fontsize=9)
        if row_labels:
            axes[b, 0].set_ylabel(row_labels[b], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(pad=0.4)
    return fig


def _example_tiles(images_u8, top: TopExamples) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Full images in [0, 1] (H, W[, 3]) and their receptive-field patches (padded outside the image)."""
    full = [chw_to_hwc(images_u8[i].float().numpy() / 255) for i in top.indices]
    patches = [padded_patch(img, (box[0], box[1])) for img, box in zip(full, top.fields)] if top.fields else []
    return full, patches


def _outline(ax, box, shape) -> None:
    from matplotlib.patches import Rectangle

    (y0, y1), (x0, x1) = box
    h, w = shape[:2]
    y0, y1, x0, x1 = max(0, y0), min(h, y1), max(0, x0), min(w, x1)  # the part inside the image
    ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor=BOX, linewidth=1.2))


def examples_figure(images_u8, top: TopExamples, title: str = "") -> Figure:
    """The top examples (a row), each with its activation and the receptive field of the maximum
    outlined; below, the patch under that field, enlarged."""
    full, patches = _example_tiles(images_u8, top)
    rows = 2 if patches else 1
    fig = new_figure(figsize=(1.15 * len(full), 1.3 * rows + 0.45))
    axes = fig.subplots(rows, len(full), squeeze=False)
    for j, img in enumerate(full):
        ax = axes[0, j]
        _show(ax, img)
        if top.fields:
            _outline(ax, top.fields[j], img.shape)
        ax.set_title(f"#{top.indices[j]}\n{top.values[j]:.2f}", fontsize=7)
        if patches:
            _show(axes[1, j], patches[j])
    if patches:
        axes[1, 0].set_ylabel("field", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    # one row (fc units: no fields, so no second row): the title gets its own 0.3 inch strip,
    # left to tight_layout the tiles' captions ran into it
    upper = 1 - 0.3 / fig.get_figheight() if title and rows == 1 else 1.0
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, upper))
    return fig


def pair_figure(images_u8, top: TopExamples, result: RenderResult, title: str = "", field: Box | None = None) -> Figure:
    """Distill's pair for one unit: its top-9 dataset examples (3×3, fields outlined) beside the
    image optimized from noise to excite it. When the optimized unit is one position of the map
    (``objectives.neuron``), ``field`` is its receptive field, outlined the same way, so the two
    sides compare like with like: what lies in a field."""
    full, _ = _example_tiles(images_u8, top)
    fig = new_figure(figsize=(6.0, 3.3))
    grid = fig.add_gridspec(3, 7, wspace=0.08, hspace=0.08, left=0.02, right=0.98, top=0.84, bottom=0.03)
    for j, img in enumerate(full[:9]):
        ax = fig.add_subplot(grid[j // 3, j % 3])
        _show(ax, img)
        if top.fields:
            _outline(ax, top.fields[j], img.shape)
        if j == 1:
            ax.set_title("Dataset examples", fontsize=9)
    ax = fig.add_subplot(grid[:, 3:7])
    img = chw_to_hwc(result.final[0])
    _show(ax, img)
    if field is not None:
        _outline(ax, field, img.shape)
    what = "centre unit, its field outlined, " if field is not None else ""
    ax.set_title(f"Optimization ({what}step {max(result.snapshots)})", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def tile_maps(maps: np.ndarray, cols: int, pad: int = 1, fill: float = np.nan) -> np.ndarray:
    """(M, H, W) maps tiled into one (rows·(H+pad)-pad, cols·(W+pad)-pad) array, ``fill`` between."""
    m, h, w = maps.shape
    rows = math.ceil(m / cols)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), fill)
    for i in range(m):
        r, c = divmod(i, cols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = maps[i]
    return out


def near_square(n: int) -> tuple[int, int]:
    """(rows, cols) with rows·cols = n, as square as possible (120 -> 10×12; primes -> 1×n)."""
    rows = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
    return rows, n // rows


def weights_figure(units: np.ndarray, title: str = "", unit_cols: int | None = None) -> Figure:
    """Signed weights: ``units`` (U, M, H, W) is U units each drawn as a block of M maps of H×W
    (a conv filter: M input channels; a fully connected unit: its input's layout), on the
    diverging map, one scale for all (± the largest |weight|), with a colour bar."""
    fig = new_figure()
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    u, m, h, w = units.shape
    inner = m if m <= 8 else math.ceil(math.sqrt(m))  # maps per row inside a unit's block
    blocks = [tile_maps(units[i], inner) for i in range(u)]
    bh, bw = blocks[0].shape
    cols = unit_cols or (u if u <= 8 else max(1, min(u, math.ceil(math.sqrt(u * bh / bw)))))
    gap = 1 if m == 1 else 3
    picture = tile_maps(np.stack(blocks), cols, pad=gap)
    peak = float(np.nanmax(np.abs(units))) or 1.0
    norm = Normalize(-peak, peak)
    cmap = colormaps[DIVERGING].with_extremes(bad=SEPARATOR)  # gaps: dark, never mistaken for a weight
    inch = 0.16 if picture.shape[1] < 60 else 0.045  # per weight: small layers drawn big
    width = min(14.0, max(4.0, picture.shape[1] * inch + 1.4))
    chars = max(20, int((width - 0.3) / 0.068))  # title characters per line (~0.068 in each at 9 pt)
    heading = "\n".join(textwrap.fill(line, chars) for line in title.splitlines())
    lines = heading.count("\n") + 1 if title else 0
    height = min(14.0, max(2.0, (width - 1.4) * picture.shape[0] / picture.shape[1] + 0.55 + 0.17 * lines))
    fig.set_size_inches(width, height)
    ax = fig.subplots()
    shown = ax.imshow(np.ma.masked_invalid(picture), cmap=cmap, norm=norm, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    bar = fig.colorbar(shown, ax=ax, fraction=0.035, pad=0.02, shrink=min(1.0, 2.5 / height + 0.3))
    bar.set_label("weight (0 = white)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    if title:  # wrapped to the figure's width: a long caption must not run off both sides
        ax.set_title(heading, fontsize=9)
    fig.tight_layout(pad=0.4)
    return fig


def colour_filters_figure(filters: np.ndarray, title: str = "") -> Figure:
    """(O, 3, k, k) colour filters, each min-max scaled, as in the AlexNet paper's figure."""
    o = filters.shape[0]
    cols = math.ceil(math.sqrt(o))
    rows = math.ceil(o / cols)
    fig = new_figure(figsize=(cols * 0.6 + 0.4, rows * 0.6 + 0.6))
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < o:
            f = filters[i]
            lo, hi = f.min(), f.max()
            ax.imshow(((f - lo) / (hi - lo) if hi > lo else f * 0 + 0.5).transpose(1, 2, 0), interpolation="nearest")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(pad=0.3)
    return fig
