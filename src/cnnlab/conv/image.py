"""Filtering image files with the kernel library: what ``cnnlab filter`` does.

Colour images are filtered channel by channel (all channels in one batched call). The
display rule of each kernel (``kernels.py``) turns the float result into an 8-bit image.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from cnnlab import atomic
from cnnlab.conv.batch import convolve_batch
from cnnlab.conv.kernels import Kernel
from cnnlab.errors import CnnlabError

SIGNED_PERCENTILE = 99.5  # signed results: this percentile of |response| maps to black/white
MAX_PIXELS = 100_000_000  # larger images are refused (Pillow's decompression-bomb guard is 89M)


def load_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An image file as float64 in [0, 255]: (H, W) for grayscale, (H, W, 3) for colour
    (alpha dropped, palettes expanded)."""
    path = Path(path)
    if not path.is_file():
        raise CnnlabError(f"image {path} not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if w * h > max_pixels:
                    raise CnnlabError(
                        f"image {path} is {w}×{h} = {w * h:,} pixels, over the {max_pixels:,} limit; resize it first"
                    )
                img.load()
                if img.mode in ("1", "L", "I", "I;16", "F"):
                    return np.asarray(img.convert("F"), dtype=np.float64) * (
                        255.0 / 65535 if img.mode.startswith("I;16") else 1.0
                    )
                return np.asarray(img.convert("RGB"), dtype=np.float64)
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise CnnlabError(
            f"cannot read {path} as an image ({e}); give a PNG, JPEG or another format Pillow reads"
        ) from None
    except OSError as e:
        raise CnnlabError(f"cannot read {path} as an image ({e}); the file is damaged or truncated") from None
    except MemoryError:
        raise CnnlabError(f"image {path} is too large to fit in memory; resize it first") from None


def apply(image: np.ndarray, kernel: Kernel, boundary: str = "reflect") -> np.ndarray:
    """The float result of convolving every channel of ``image`` with ``kernel`` ('same' size)."""
    planes = image[None, None] if image.ndim == 2 else image.transpose(2, 0, 1)[None]  # (1, C, H, W)
    need = planes.size * 8 * 4
    try:
        out = convolve_batch(
            torch.from_numpy(np.ascontiguousarray(planes)), torch.from_numpy(kernel.weights), "same", "auto", boundary
        )
    except MemoryError:
        raise CnnlabError(f"filtering needs about {need / 2**30:.1f} GiB; resize the image first") from None
    out = out[0].numpy()  # (C, H, W)
    return out[0] if image.ndim == 2 else out.transpose(1, 2, 0)


def to_display(result: np.ndarray, kernel: Kernel) -> np.ndarray:
    """uint8 for viewing, by the kernel's display rule (see ``kernels.py``)."""
    if kernel.display == "normalize":
        total = kernel.weights.sum()
        return np.clip(np.rint(result / total), 0, 255).astype(np.uint8)
    peak = np.percentile(np.abs(result), SIGNED_PERCENTILE)  # robust: a few extreme pixels would grey out the rest
    if peak <= 0:
        peak = np.abs(result).max()
    scaled = 128 + 127 * result / peak if peak > 0 else np.full_like(result, 128)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def filter_image(image: np.ndarray, kernels: list[Kernel], boundary: str = "reflect") -> np.ndarray:
    """Apply ``kernels`` one after another (a pipeline) and return the uint8 display image.

    Intermediate results stay float and are normalized by each kernel's weight sum where it
    has one; the last kernel's display rule makes the final image."""
    x = image
    for i, kernel in enumerate(kernels):
        x = apply(x, kernel, boundary)
        if i < len(kernels) - 1 and kernel.display == "normalize":
            x = x / kernel.weights.sum()
    return to_display(x, kernels[-1])


def save_png(array: np.ndarray, path: str | Path) -> None:
    img = Image.fromarray(array)
    atomic.write_with(path, lambda tmp: img.save(tmp, format="PNG"))


def save_grid(image: np.ndarray, kernels: list[Kernel], path: str | Path, boundary: str = "reflect") -> None:
    """One PNG: the original beside each kernel's result, each labelled with the kernel's name,
    its weights and what it does."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("original", image.clip(0, 255).astype(np.uint8), None)] + [
        (k.name, to_display(apply(image, k, boundary), k), k) for k in kernels
    ]
    cols = min(len(panels), 3)
    rows = -(-len(panels) // cols)
    h, w = image.shape[:2]
    panel_w = 4.2
    fig, axes = plt.subplots(
        rows, cols, figsize=(panel_w * cols, (panel_w * h / w + 1.6) * rows), dpi=110, squeeze=False
    )
    for ax in axes.flat:
        ax.set_visible(False)
    for ax, (title, img, k) in zip(axes.flat, panels):
        ax.set_visible(True)
        ax.imshow(img, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255)
        ax.set_xticks([])
        ax.set_yticks([])
        if k is None:
            ax.set_title("original", fontsize=12)
            continue
        weights = k.weights
        total = weights.sum()
        rule = (
            f" (÷{total:g})"
            if k.display == "normalize" and abs(total - 1) > 1e-9
            else (" (0 = grey)" if k.display == "signed" else "")
        )
        ax.set_title(f"{title}{rule}", fontsize=12)
        matrix = (
            "   ".join("[" + " ".join(f"{v:g}" for v in row) + "]" for row in weights)
            if weights.shape[0] <= 3 and weights.shape[1] <= 5
            else f"{weights.shape[0]}×{weights.shape[1]} kernel"
        )
        ax.set_xlabel(matrix + "\n" + textwrap.fill(k.description, 48), fontsize=8, family="monospace")
    fig.tight_layout()
    atomic.write_with(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
