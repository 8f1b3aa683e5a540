"""Turning tensors into pictures: normalization, grids, strips, overlays, PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from cnnlab import atomic

DIVERGING = "RdBu_r"  # signed values: negative blue, 0 white, positive red (also in serve/static)


def to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def diverging(w: np.ndarray, peak: float | None = None) -> np.ndarray:
    """(H, W) signed values -> (H, W, 3) on the diverging map (figures.DIVERGING), 0 white,
    ± ``peak`` (default the largest |value|) at the ends."""
    from matplotlib import colormaps

    peak = float(np.abs(w).max()) if peak is None else peak
    unit = 0.5 + 0.5 * w / peak if peak > 0 else np.full_like(w, 0.5, dtype=np.float64)
    return colormaps[DIVERGING](np.clip(unit, 0, 1))[..., :3]


def minmax(w: np.ndarray) -> np.ndarray:
    lo, hi = w.min(), w.max()
    return (w - lo) / (hi - lo) if hi > lo else np.full_like(w, 0.5)


def chw_to_hwc(x: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (H, W) for one channel, (H, W, 3) for three."""
    return x[0] if x.shape[0] == 1 else x.transpose(1, 2, 0)


def grid(
    tiles: list[np.ndarray], cols: int | None = None, pad: int = 1, scale: int = 1, background: float = 1.0
) -> np.ndarray:
    """Tile (H, W) or (H, W, 3) images in [0, 1] into one array, each enlarged ``scale`` times."""
    n = len(tiles)
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    tiles = [np.kron(t, np.ones((scale, scale) + (1,) * (t.ndim - 2))) if scale > 1 else t for t in tiles]
    h = max(t.shape[0] for t in tiles)
    w = max(t.shape[1] for t in tiles)
    colour = any(t.ndim == 3 for t in tiles)
    shape = (rows * (h + pad) + pad, cols * (w + pad) + pad) + ((3,) if colour else ())
    out = np.full(shape, background, dtype=np.float64)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        if colour and t.ndim == 2:
            t = np.repeat(t[..., None], 3, axis=2)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        out[y : y + t.shape[0], x : x + t.shape[1]] = t
    return out


def save_png(img: np.ndarray, path: str | Path) -> None:
    """Write an image in [0, 1] ((H, W) or (H, W, 3)) as a PNG, atomically."""
    pil = Image.fromarray(to_uint8(img))
    atomic.write_with(path, lambda tmp: pil.save(tmp, format="PNG"))


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """The image in grey with ``heat`` (≥ 0, any scale) on top as a colour map: (H, W, 3) in [0, 1]."""
    from matplotlib import colormaps

    gray = image.mean(-1) if image.ndim == 3 else image
    base = np.repeat(gray[..., None], 3, axis=2) * 0.6
    h = heat / heat.max() if heat.max() > 0 else heat
    colours = colormaps["inferno"](h)[..., :3]
    weight = alpha * h[..., None]
    return base * (1 - weight) + colours * weight
