"""Pictures that show themselves in a notebook (issue 18), drawn with Pillow alone.

A :class:`Picture` is a finished image: Jupyter shows it inline (``_repr_png_``), and
``picture.save(path)`` writes it as a PNG through cnnlab's output policy (atomic, and never
over an existing file unless ``overwrite=True``). :func:`show` turns arrays into one:

    >>> import numpy as np, cnnlab
    >>> picture = cnnlab.show(np.eye(28))           # a 28×28 map, drawn 4× larger (112 px + margins)
    >>> picture.size
    (120, 120)
    >>> picture.save("diagonal.png")                # a new file (an existing one is kept)
    PosixPath('diagonal.png')

How values become colours (the same rules as the pictures cnnlab writes):

* ``uint8`` and ``bool``: as stored (0 black, 255 or True white);
* values in [0, 1]: grey levels (or RGB for a colour image), for images larger than
  ``MAX_ANNOTATED`` pixels a side;
* other values ≥ 0 (and small arrays such as a kernel): scaled by the largest, so 0 stays black;
* signed values: the diverging map ``DIVERGING`` (blue < 0, white = 0, red > 0), symmetric
  at ± the largest |value| (for a large map ± its 99.5th percentile, so a few extreme values
  do not wash out the rest), with a labelled colour bar under the picture.

Small pictures are enlarged by an integer factor with nearest-neighbour sampling (no
blurring, every pixel a crisp square) until a tile is at least ``MIN_TILE`` pixels, and
small numeric arrays (at most ``MAX_ANNOTATED`` cells a side, a few at a time) get their values written in
their cells, as the lecture's worked examples are printed.

Only numpy and Pillow are used (no matplotlib, no IPython): ``import cnnlab`` stays light.
"""

from __future__ import annotations

import functools
import io
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from cnnlab import atomic, limits
from cnnlab.errors import CnnlabError, OutputError
from cnnlab.outputs import output_file

__all__ = ["DIVERGING", "Picture", "compose", "show", "to_rgb"]

DIVERGING = "RdBu_r"  # the name matplotlib gives the map below (viz.images.DIVERGING)
# ColorBrewer's 11-class RdBu, reversed (matplotlib's RdBu_r): blue for -1, near-white 0, red +1
_RDBU_R = (
    np.array(
        [
            (5, 48, 97),
            (33, 102, 172),
            (67, 147, 195),
            (146, 197, 222),
            (209, 229, 240),
            (247, 247, 247),
            (253, 219, 199),
            (244, 165, 130),
            (214, 96, 77),
            (178, 24, 43),
            (103, 0, 31),
        ],
        dtype=np.float64,
    )
    / 255
)
MIN_TILE = 112  # px: the longer side of a tile at least this (a 28×28 digit is drawn 4×)
MAX_WIDTH = 1200  # px: a grid wider than this is drawn at a smaller enlargement
MAX_ANNOTATED = 12  # arrays up to 12×12 cells get their values written in the cells
MAX_ANNOTATED_TILES = 4  # ... when at most 4 are shown (more would be a wall of numbers)
CELL = 40  # px per cell of an annotated array
GAP = 4  # px between tiles
ROBUST_SIZE = 4096  # signed maps with at least this many values are scaled robustly:
ROBUST_PERCENTILE = 99.5  # ... ± this percentile of |value| is full colour (as `cnnlab filter` does), so a
# few extreme values (the zero-padded border of a Sobel result) cannot leave every edge white
BYTES_PER_VALUE = 64  # float64 copies made per value shown: the values, their unit scale, RGB (×3), the tile
MISSING = (58, 58, 58)  # NaN and inf: dark grey, never mistaken for a value on either map
BOX = (255, 59, 48)  # outlines (receptive fields), as in viz.figures.BOX


# -- values to colours -----------------------------------------------------------------
def diverging_rgb(unit: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (0.5 = zero) -> (..., 3) floats on the diverging map (matplotlib's
    RdBu_r, interpolated linearly between ColorBrewer's 11 colours)."""
    pos = np.clip(np.nan_to_num(unit, nan=0.5), 0, 1) * (len(_RDBU_R) - 1)
    lo = np.minimum(np.floor(pos).astype(int), len(_RDBU_R) - 2)
    frac = (pos - lo)[..., None]
    return _RDBU_R[lo] * (1 - frac) + _RDBU_R[lo + 1] * frac


# the map sampled at 511 points (odd: 0 falls exactly on the middle colour), as matplotlib samples 256
_DIVERGING_LUT = np.rint(diverging_rgb(np.linspace(0, 1, 511)) * 255).astype(np.uint8)


def is_signed(x: np.ndarray) -> bool:
    """Whether ``x`` holds negative values (finite ones): such maps are drawn diverging."""
    if x.dtype == np.bool_ or x.dtype == np.uint8 or x.size == 0:
        return False
    finite = x[np.isfinite(x)]
    return bool(finite.size and finite.min() < 0)


def value_range(x: np.ndarray, signed: bool) -> float:
    """The value drawn at full intensity: max x, or for a signed map max |x| (the
    ``ROBUST_PERCENTILE``-th percentile of |x| for a large one; beyond it colours saturate)."""
    finite = np.abs(x[np.isfinite(x)]) if signed else x[np.isfinite(x)]
    if not finite.size:
        return 0.0
    if signed and finite.size >= ROBUST_SIZE:
        peak = float(np.percentile(finite, ROBUST_PERCENTILE))
        if peak > 0:
            return peak
    return float(finite.max())


def to_rgb(x: np.ndarray, signed: bool | None = None, peak: float | None = None) -> np.ndarray:
    """(H, W) or (H, W, 3|4) values -> (H, W, 3) uint8 by the module's rules; ``peak`` is the
    value shown at full intensity (default: the largest, or largest |value| when signed).

    >>> to_rgb(np.array([[0.0, 0.5, 1.0]]))[0, :, 0].tolist()          # [0, 1]: grey levels
    [0, 128, 255]
    >>> to_rgb(np.array([[-1.0, 0.0, 1.0]]))[0].tolist()               # signed: blue, white, red
    [[5, 48, 97], [247, 247, 247], [103, 0, 31]]
    """
    x = np.asarray(x)
    if x.ndim == 3 and x.shape[2] == 4:
        x = x[..., :3]  # alpha is dropped: tiles are shown on white
    if x.dtype == np.bool_:
        x = x.astype(np.uint8) * 255
    if x.dtype == np.uint8:
        return np.repeat(x[..., None], 3, axis=2) if x.ndim == 2 else x.copy()
    x = x if x.dtype.kind == "f" else x.astype(np.float64)
    bad = ~np.isfinite(x)
    has_bad = bool(bad.any())
    values = np.where(bad, 0, x) if has_bad else x
    signed = is_signed(x) if signed is None else signed
    peak = value_range(x, signed) if peak is None else peak
    if signed and x.ndim == 3:  # signed colour (an RGB filter): min-max, as in the AlexNet paper's figure
        finite = x[~bad]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        out = _to_uint8((values - lo) / (hi - lo) if hi > lo else np.full_like(values, 0.5))
    elif signed:
        unit = 0.5 + 0.5 * values / peak if peak > 0 else np.full_like(values, 0.5)
        out = _DIVERGING_LUT[np.rint(np.clip(unit, 0, 1) * (len(_DIVERGING_LUT) - 1)).astype(np.intp)]
    else:
        lo = float(x[~bad].min()) if has_bad and (~bad).any() else float(values.min()) if values.size else 0.0
        # [0, 1] is an image's grey levels; a small array of numbers (a kernel) is a map: scaled by its max
        in_unit = lo >= 0 and peak <= 1 and max(x.shape[:2]) > MAX_ANNOTATED
        grey = _to_uint8(values if in_unit else values / peak if peak > 0 else np.zeros_like(values))
        out = np.repeat(grey[..., None], 3, axis=2) if x.ndim == 2 else grey
    if has_bad:
        out[bad if bad.ndim == 2 else bad.any(-1)] = MISSING
    return out


def _to_uint8(unit: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(unit, 0, 1) * 255).astype(np.uint8)


# -- text --------------------------------------------------------------------------------
@functools.cache
def font(size: int = 13) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font (a scalable one when Pillow has FreeType, as its wheels do)."""
    return ImageFont.load_default(size=size)


def _text_size(text: str, f) -> tuple[int, int]:
    box = ImageDraw.Draw(PILImage.new("RGB", (1, 1))).multiline_textbbox((0, 0), text, font=f, spacing=2)
    return int(box[2] - box[0]), int(box[3] - box[1])


def _number(v: float) -> str:
    if float(v).is_integer() and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.2g}"


# -- layout ------------------------------------------------------------------------------
def enlargement(h: int, w: int, cols: int = 1) -> int:
    """The integer factor that makes an h×w tile at least ``MIN_TILE`` px on its longer side,
    limited so ``cols`` tiles side by side fit in ``MAX_WIDTH`` (never below 1)."""
    want = max(1, math.ceil(MIN_TILE / max(h, w, 1)))
    fits = max(1, (MAX_WIDTH - GAP * (cols + 1)) // max(1, cols * w))
    return max(1, min(want, fits))


def _annotate(tile: PILImage.Image, values: np.ndarray, scale: int) -> None:
    """Write each value of a small (H, W) array in its cell (dark text on light cells), the
    cells ruled in light grey (a white cell must not vanish into the page)."""
    draw = ImageDraw.Draw(tile)
    rgb = np.asarray(tile).copy()
    h, w = values.shape
    for i in range(h + 1):
        y = min(i * scale, tile.height - 1)
        draw.line((0, y, tile.width - 1, y), fill=(200, 200, 200))
    for j in range(w + 1):
        x = min(j * scale, tile.width - 1)
        draw.line((x, 0, x, tile.height - 1), fill=(200, 200, 200))
    largest = max(9, min(15, scale // 3 + 3))
    for (i, j), v in np.ndenumerate(values):
        cy, cx = i * scale + scale // 2, j * scale + scale // 2
        light = rgb[min(cy, rgb.shape[0] - 1), min(cx, rgb.shape[1] - 1)].mean() > 140
        text = _number(v) if np.isfinite(v) else str(v)
        size = largest
        while size > 7 and _text_size(text, font(size))[0] > scale - 5:  # long numbers get smaller type
            size -= 1
        draw.text((cx, cy), text, font=font(size), fill=(20, 20, 20) if light else (250, 250, 250), anchor="mm")


def _colorbar(peak: float, width: int, clipped: bool = False) -> PILImage.Image:
    """A horizontal bar of the diverging map with its ends and middle labelled (``clipped``:
    some values lie beyond ± peak and are drawn at the ends' colours)."""
    f = font(11)
    bar_w, bar_h = min(240, max(120, width - 40)), 10
    unit = np.linspace(0, 1, bar_w)[None, :].repeat(bar_h, 0)
    bar = PILImage.fromarray(np.clip(np.rint(diverging_rgb(unit) * 255), 0, 255).astype(np.uint8))
    th = _text_size("0", f)[1]
    out = PILImage.new("RGB", (max(width, bar_w + 40), bar_h + th + 10), "white")
    x0 = (out.width - bar_w) // 2
    out.paste(bar, (x0, 2))
    draw = ImageDraw.Draw(out)
    draw.rectangle((x0 - 1, 1, x0 + bar_w, 2 + bar_h), outline=(120, 120, 120))
    beyond = " or less" if clipped else ""
    for frac, text in (
        (0, f"-{_number(peak)}{beyond}"),
        (0.5, "0"),
        (1, f"+{_number(peak)}{' or more' if clipped else ''}"),
    ):
        draw.text((x0 + frac * (bar_w - 1), bar_h + 5), text, font=f, fill=(40, 40, 40), anchor="ma")
    return out


def compose(
    tiles: Sequence[np.ndarray],
    labels: Sequence[str] | None = None,
    title: str = "",
    cols: int | None = None,
    scale: int | None = None,
    boxes: Sequence[tuple[tuple[int, int], tuple[int, int]] | None] | None = None,
    colorbar: float | None = None,
    values: Sequence[np.ndarray | None] | None = None,
    clipped: bool = False,
) -> PILImage.Image:
    """Lay out (H, W, 3) uint8 ``tiles`` in a grid on white, each enlarged ``scale`` times
    (nearest neighbour; default :func:`enlargement`), a label under each, a title on top,
    optional boxes ((y0, y1), (x0, x1)) in tile pixels outlined, optional ``values`` written
    in the cells, and a diverging colour bar for ± ``colorbar``.

    >>> tiles = [np.zeros((28, 28, 3), np.uint8), np.full((28, 28, 3), 255, np.uint8)]
    >>> compose(tiles, cols=1).size                    # (width, height): two 112 px tiles, one above the other
    (120, 236)
    """
    if not tiles:
        raise CnnlabError("nothing to show: give at least one image")
    n = len(tiles)
    cols = max(1, min(n, cols or (n if n <= 8 else math.ceil(math.sqrt(n)))))
    rows = math.ceil(n / cols)
    th, tw = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
    k = scale or enlargement(th, tw, cols)
    # large images are shown reduced (box filter) to MAX_WIDTH: a notebook stores every pixel
    shrink = 1 if scale else max(1, math.ceil(cols * tw / MAX_WIDTH))
    limits.check_pixels(
        rows * th * k // shrink,
        cols * tw * k // shrink,
        f"a picture of {n} tile(s) at scale {k}",
        "use a smaller scale",
    )
    big = []
    for i, t in enumerate(tiles):
        img = PILImage.fromarray(t).resize((t.shape[1] * k, t.shape[0] * k), PILImage.Resampling.NEAREST)
        if shrink > 1:
            img = img.reduce(shrink)
        box = boxes[i] if boxes else None
        if box is not None:
            (y0, y1), (x0, x1) = box
            y0, y1, x0, x1 = max(0, y0), min(t.shape[0], y1), max(0, x0), min(t.shape[1], x1)
            f = k / shrink
            ImageDraw.Draw(img).rectangle(
                (int(x0 * f), int(y0 * f), int(x1 * f) - 1, int(y1 * f) - 1), outline=BOX, width=2
            )
        v = values[i] if values else None
        if v is not None:
            _annotate(img, v, k)
        big.append(img)
    f_label, f_title = font(12), font(14)
    label_h = max((_text_size(s, f_label)[1] for s in labels or [] if s), default=0)
    label_h = label_h + 6 if label_h else 0
    cell_w = max(max(b.width for b in big), max((_text_size(s, f_label)[0] + 6 for s in labels or [] if s), default=0))
    cell_h = max(b.height for b in big) + label_h
    width = cols * cell_w + (cols + 1) * GAP
    title_h = _text_size(title, f_title)[1] + 10 if title else 0
    bar = _colorbar(colorbar, width, clipped) if colorbar is not None else None
    width = max(width, bar.width if bar else 0, _text_size(title, f_title)[0] + 2 * GAP if title else 0)
    height = title_h + rows * cell_h + (rows + 1) * GAP + (bar.height if bar else 0)
    canvas = PILImage.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.multiline_text((width // 2, 6), title, font=f_title, fill=(20, 20, 20), anchor="ma", align="center")
    x_start = (width - (cols * cell_w + (cols + 1) * GAP)) // 2
    for i, img in enumerate(big):
        r, c = divmod(i, cols)
        x = x_start + GAP + c * (cell_w + GAP)
        y = title_h + GAP + r * (cell_h + GAP)
        canvas.paste(img, (x + (cell_w - img.width) // 2, y))
        if labels and i < len(labels) and labels[i]:
            draw.multiline_text(
                (x + cell_w // 2, y + img.height + 4),
                labels[i],
                font=f_label,
                fill=(40, 40, 40),
                anchor="ma",
                align="center",
                spacing=2,
            )
    if bar is not None:
        canvas.paste(bar, ((width - bar.width) // 2, height - bar.height))
    return canvas


# -- the picture object --------------------------------------------------------------------
class Picture:
    """A finished picture: shown inline by Jupyter, saved as a PNG with :meth:`save`.

    >>> from PIL import Image
    >>> p = Picture(Image.new("RGB", (64, 32), "white"), "blank")
    >>> p.size, p
    ((64, 32), <Picture 64×32: blank>)
    """

    def __init__(self, image: PILImage.Image, caption: str = "") -> None:
        self.image = image.convert("RGB") if image.mode not in ("RGB", "L") else image
        self.caption = caption
        self._png: bytes | None = None

    @classmethod
    def from_png(cls, data: bytes, caption: str = "") -> Picture:
        """A picture from PNG bytes (e.g. a figure cnnlab wrote)."""
        with PILImage.open(io.BytesIO(data)) as img:
            img.load()
            picture = cls(img.copy(), caption)
        picture._png = data if img.format == "PNG" else None
        return picture

    @classmethod
    def from_figure(cls, fig: Any, caption: str = "") -> Picture:
        """Render a matplotlib figure (made without pyplot, or closed after) to a picture."""
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return cls.from_png(buf.getvalue(), caption)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.image.size

    def png(self) -> bytes:
        """The picture as PNG bytes."""
        if self._png is None:
            buf = io.BytesIO()
            self.image.save(buf, format="PNG")
            self._png = buf.getvalue()
        return self._png

    def _repr_png_(self) -> bytes:
        return self.png()

    def to_array(self) -> np.ndarray:
        """(H, W, 3) uint8 pixels (a copy)."""
        return np.array(self.image.convert("RGB"))

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the picture as a PNG, atomically; an existing file is kept unless
        ``overwrite=True`` (then it is replaced, as ``cnnlab ... -o`` replaces a file)."""
        target = output_file(path, "save")  # a folder, device, read-only file or missing folder: one line
        if not overwrite and os.path.lexists(path):
            raise OutputError(
                f"save {path}: the file exists and is kept; pass overwrite=True to replace it, or give a new name"
            )
        atomic.write_bytes(target, self.png())
        return Path(path)

    def __repr__(self) -> str:
        w, h = self.size
        return f"<Picture {w}×{h}{': ' + self.caption if self.caption else ''}>"


# -- show(): anything image-like to a picture ----------------------------------------------
def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor (torch is not imported here)
        x = x.detach().cpu()
        if str(x.dtype) == "torch.bfloat16" or str(x.dtype) == "torch.float16":
            x = x.float()
        return x.numpy()
    if isinstance(x, PILImage.Image):
        return np.asarray(x.convert("RGB") if x.mode not in ("L", "RGB") else x)
    return np.asarray(x)


def _split(x: np.ndarray) -> tuple[list[np.ndarray], bool]:
    """An array -> its images ((H, W) or (H, W, 3)), and whether it held several (a batch)."""
    if x.ndim == 1:
        return [x[None, :]], False  # a 1-D signal: one row of cells
    if x.ndim == 2:
        return [x], False
    if x.ndim == 3:
        if x.shape[-1] in (3, 4) and x.shape[0] not in (1, 3):
            return [x], False  # (H, W, 3)
        if x.shape[0] == 3:
            return [x.transpose(1, 2, 0)], False  # (3, H, W), torch's layout
        return list(x), x.shape[0] > 1  # (N, H, W), N = 1 included
    if x.ndim == 4:
        if x.shape[-1] in (3, 4) and x.shape[1] not in (1, 3):
            return list(x), True  # (N, H, W, 3)
        if x.shape[1] == 3:
            return list(x.transpose(0, 2, 3, 1)), True  # (N, 3, H, W)
        if x.shape[1] == 1:
            return list(x[:, 0]), True  # (N, 1, H, W)
        return list(x.reshape(-1, *x.shape[2:])), True  # (N, C, H, W): every channel a tile
    raise CnnlabError(
        f"cannot show an array of shape {x.shape}: give (H, W), (H, W, 3), (C, H, W), (N, H, W) or (N, C, H, W)"
    )


def show(
    x: Any,
    title: str = "",
    labels: Sequence[str] | None = None,
    cols: int | None = None,
    scale: int | None = None,
    signed: bool | None = None,
) -> Picture:
    """Show an array, a tensor, a PIL image, or a list of them, as one picture.

    One array of several images ((N, H, W) or (N, C, H, W)) is drawn on one scale; in a list
    each item is scaled on its own. ``signed`` forces (True) or stops (False) the diverging
    map; ``scale`` the enlargement; ``cols`` the grid's columns; ``labels`` one per image.

    >>> import numpy as np
    >>> from cnnlab.conv import convolve
    >>> show(convolve([2, -1, 1], [1, 1, 2]), title="the lecture's 1-D example")   # doctest: +ELLIPSIS
    <Picture ...×...: the lecture's 1-D example>
    >>> show([np.zeros((28, 28)), np.ones((28, 28))]).size      # two tiles of 112 px, 4 px apart
    (236, 120)
    """
    if isinstance(x, Picture):
        return x
    items = list(x) if isinstance(x, (list, tuple)) else None
    if items is not None and items and all(np.ndim(_to_numpy(i)) == 0 for i in items):
        items = None  # a plain list of numbers is one 1-D signal
    arrays = [_to_numpy(i) for i in items] if items is not None else [_to_numpy(x)]
    values = sum(a.size for a in arrays)
    limits.check(values * BYTES_PER_VALUE, f"show() of {values:,} values", "show a smaller array, or a crop of it")
    tiles: list[np.ndarray] = []
    cell_values: list[np.ndarray | None] = []
    peaks: list[float] = []
    any_signed = clipped = False
    for a in arrays:
        if a.dtype.kind not in "biuf":
            raise CnnlabError(
                f"cannot show values of type {a.dtype}: give numbers (an image, a map or a batch of them)"
            )
        images, _ = _split(a)
        colour = bool(images) and images[0].ndim == 3
        sign = (is_signed(a) if signed is None else signed) and a.dtype.kind in "if"
        peak = value_range(a, sign) if a.dtype.kind in "if" else None
        any_signed |= sign and not colour
        if sign and not colour and peak is not None:
            clipped |= bool(np.nanmax(np.abs(np.where(np.isfinite(a), a, 0))) > peak)
        for img in images:
            tiles.append(to_rgb(img, sign, peak))
            small = img.ndim == 2 and max(img.shape) <= MAX_ANNOTATED and img.dtype != np.uint8
            cell_values.append(img if small else None)
            if sign and not colour and peak is not None:
                peaks.append(peak)
    annotated = len(tiles) <= MAX_ANNOTATED_TILES and any(v is not None for v in cell_values)
    if scale is None and annotated and all(max(t.shape[:2]) <= MAX_ANNOTATED for t in tiles):
        scale = CELL
    if labels is not None and len(labels) != len(tiles):
        raise CnnlabError(f"labels: {len(labels)} given for {len(tiles)} images; give one label per image")
    bar = max(peaks) if any_signed and peaks and len(set(peaks)) == 1 else None
    picture = compose(
        tiles, labels, title, cols, scale, values=cell_values if annotated else None, colorbar=bar, clipped=clipped
    )
    return Picture(picture, title)
