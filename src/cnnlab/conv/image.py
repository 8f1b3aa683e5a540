"""Filtering image files with the kernel library: what ``cnnlab filter`` does.

Colour images are filtered channel by channel (all channels in one batched call). The
display rule of each kernel (``kernels.py``) turns the float result into an 8-bit image.

Reading (issue 14, "images in, images out"): every image becomes float64 in [0, 255] by
its *real* range, not by clipping at 255:

* 1-bit images: 0 and 255; 8-bit (L, P, RGB, CMYK, ...): as stored;
* 16-bit (``I;16``, ``I;16B``, a 16-bit PNG or PGM read as ``I``): 0-65535 scaled to 0-255;
* 32-bit integers (an int32 TIFF): 0 to 2³¹ - 1 (the TIFF's BitsPerSample) scaled to 0-255;
* 32-bit floats (``F``): 0-1 if every pixel is in [0, 1] (the usual float convention),
  else taken as 0-255;
* transparency is composited over **white** (what a viewer shows on a white page), so
  hidden colours under alpha 0 cannot appear and edge filters find no edge at the
  transparency border; gray + alpha stays gray;
* the EXIF orientation is applied (a phone photo is filtered the way it is shown).

cnnlab's own pixel limit (``limits.MAX_PIXELS``) and memory limit are checked from the
header, before Pillow's decompression-bomb guard (which would call a large but honest image
"not an image") and before anything is decoded.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, TiffImagePlugin, UnidentifiedImageError

from cnnlab import atomic, limits
from cnnlab.conv.batch import convolve_batch
from cnnlab.conv.kernels import Kernel
from cnnlab.errors import CnnlabError, ResourceError

SIGNED_PERCENTILE = 99.5  # signed results: this percentile of |response| maps to black/white
MAX_PIXELS = limits.MAX_PIXELS  # larger images are refused (before Pillow's 89M-pixel bomb guard)
READ_BYTES_PER_VALUE = 8 + 8 + 4  # float64 result, a float64 intermediate, the decoded raw values
FILTER_BYTES_PER_VALUE = 64  # convolution: padded copy, FFT buffers (complex128) and the result


@contextlib.contextmanager
def _no_pillow_bomb_guard():
    """cnnlab's limits decide; Pillow's MAX_IMAGE_PIXELS would refuse first and say "bomb"."""
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


def load_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An image file as float64 in [0, 255]: (H, W) for grayscale, (H, W, 3) for colour, read
    by its real range, alpha composited over white, EXIF orientation applied (module doc)."""
    path = Path(path)
    if not path.is_file():
        raise CnnlabError(f"image {path} not found")
    try:
        with _no_pillow_bomb_guard(), Image.open(path) as img:
            w, h = img.size
            limits.check_pixels(h, w, f"image {path}", "resize it first", max_pixels)
            channels = 1 if img.mode in ("1", "L", "LA", "I", "F") or img.mode.startswith("I;") else 3
            limits.check(
                limits.image_bytes(h, w, channels + 1, READ_BYTES_PER_VALUE),
                f"reading image {path} ({w:,}×{h:,})",
                "resize it first",
            )
            img.load()
            pixels = _to_float(img)
    except ResourceError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as e:
        raise CnnlabError(
            f"cannot read {path} as an image ({e}); give a PNG, JPEG or another format Pillow reads"
        ) from None
    except OSError as e:
        raise CnnlabError(f"cannot read {path} as an image ({e}); the file is damaged or truncated") from None
    except MemoryError:
        raise CnnlabError(f"image {path} is too large to fit in memory; resize it first") from None
    if not np.isfinite(pixels).all():
        raise CnnlabError(f"image {path} has NaN or infinite pixels; give an image of finite values")
    return pixels


def _bits(img: Image.Image) -> int:
    """Bits per sample of an integer image in Pillow mode I / I;16*."""
    if img.mode.startswith("I;16"):
        return 16
    if isinstance(img, TiffImagePlugin.TiffImageFile):
        bits = img.tag_v2.get(258, (32,))  # BitsPerSample
        bits = bits[0] if isinstance(bits, tuple) else bits
        return 31 if int(bits) >= 32 else int(bits)  # mode I holds signed 32-bit values
    return 16  # PNG and PGM/PPM go up to 16 bits; Pillow reads them as I scaled to 0-65535


def _to_float(img: Image.Image) -> np.ndarray:
    """(H, W) or (H, W, 3) float64 in [0, 255] from a loaded Pillow image (module doc)."""
    mode = img.mode
    bits = _bits(img) if mode == "I" or mode.startswith("I;") else 8  # before the copy below loses the format
    with contextlib.suppress(Exception):  # a broken EXIF block is not worth refusing the image
        img = ImageOps.exif_transpose(img)
    if mode == "I" or mode.startswith("I;"):
        values = np.asarray(img).astype(np.float64)
        return np.clip(values, 0, None) * (255.0 / (2**bits - 1))
    if mode == "F":
        values = np.asarray(img, dtype=np.float64)
        finite = values[np.isfinite(values)]
        in_unit = finite.size == 0 or (finite.min() >= 0 and finite.max() <= 1)
        return values * 255.0 if in_unit else values
    if mode in ("1", "L"):
        return np.asarray(img.convert("L"), dtype=np.float64)
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("LA", "La", "PA"):
        la = np.asarray(img.convert("LA"), dtype=np.float64)
        return _over_white(la[..., :1], la[..., 1])[..., 0]
    if "A" in mode or "transparency" in img.info:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float64)
        return _over_white(rgba[..., :3], rgba[..., 3])
    return np.asarray(img.convert("RGB"), dtype=np.float64)


def _over_white(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite (H, W, C) colour with (H, W) alpha (0-255) over a white background."""
    a = alpha[..., None] / 255.0
    return colour * a + 255.0 * (1 - a)


def filter_bytes(h: int, w: int, channels: int, kernel_shape: tuple[int, int]) -> int:
    """Estimated peak bytes of filtering an (H, W, C) image with one kernel."""
    kh, kw = kernel_shape
    return (h + kh) * (w + kw) * channels * FILTER_BYTES_PER_VALUE + kh * kw * 8


def grid_figure_pixels(h: int, w: int, panels: int) -> tuple[int, int]:
    """(height, width) in pixels of ``save_grid``'s figure."""
    cols = min(panels, 3)
    rows = -(-panels // cols)
    panel_h = GRID_PANEL_INCHES * min(h / w, GRID_MAX_ASPECT)
    return int((panel_h + 1.6) * rows * GRID_DPI), int(GRID_PANEL_INCHES * cols * GRID_DPI)


GRID_PANEL_INCHES = 4.2  # width of one panel
GRID_MAX_ASPECT = 3.0  # a panel is at most 3 times as tall as wide (a 2000×5 image is not 1,700 inches tall)
GRID_DPI = 110
GRID_BYTES_PER_PANEL_VALUE = 1 + 4 * 8  # the uint8 panel and matplotlib's float copies when it resamples


def apply(image: np.ndarray, kernel: Kernel, boundary: str = "reflect") -> np.ndarray:
    """The float result of convolving every channel of ``image`` with ``kernel`` ('same' size)."""
    h, w = image.shape[:2]
    kh, kw = kernel.shape
    if boundary == "reflect" and (kh // 2 >= h or kw // 2 >= w):
        # reflection mirrors the image about its edge pixel: a kernel reaching further than
        # the image is wide has nothing to mirror (torch's message says only "padding size")
        raise CnnlabError(
            f"kernel {kernel.name} ({kh}×{kw}) reaches {kh // 2}×{kw // 2} pixels past the edge, but the image is only "
            f"{w}×{h}; --boundary reflect needs an image larger than that: use --boundary replicate or zero, "
            "or a smaller kernel"
        )
    channels = 1 if image.ndim == 2 else image.shape[2]
    limits.check(
        filter_bytes(h, w, channels, (kh, kw)),
        f"filtering a {w:,}×{h:,} image with kernel {kernel.name} ({kh:,}×{kw:,})",
        "use a smaller image or kernel",
    )
    planes = image[None, None] if image.ndim == 2 else image.transpose(2, 0, 1)[None]  # (1, C, H, W)
    try:
        out = convolve_batch(
            torch.from_numpy(np.ascontiguousarray(planes)), torch.from_numpy(kernel.weights), "same", "auto", boundary
        )
    except MemoryError:
        raise ResourceError(f"filtering with {kernel.name} ran out of memory; resize the image first") from None
    out = out[0].numpy()  # (C, H, W)
    if not np.isfinite(out).all():
        raise CnnlabError(
            f"filtering with kernel {kernel.name} gave NaN or infinite values; its weights must be finite and "
            "moderate (a Gaussian needs sigma of at least about 0.05)"
        )
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
    its weights and what it does (``cnnlab filter --grid``)."""
    fig = _grid_figure(image, kernels, boundary)
    atomic.write_with(path, lambda tmp: fig.savefig(tmp, format="png"))


def grid_figure(image: np.ndarray, kernels: list[Kernel], boundary: str = "reflect"):
    """``save_grid``'s figure as a :class:`~cnnlab.display.Picture`, shown inline in a notebook.

    >>> from cnnlab.conv.kernels import KERNELS
    >>> photo = np.tile(np.linspace(0, 255, 32), (32, 1))            # a horizontal ramp
    >>> grid_figure(photo, [KERNELS["sobel-x"]])                     # doctest: +ELLIPSIS
    <Picture ...: original and sobel-x>
    """
    from cnnlab.display import Picture

    caption = "original and " + ", ".join(k.name for k in kernels)
    return Picture.from_figure(_grid_figure(image, kernels, boundary), caption)


def _grid_figure(image: np.ndarray, kernels: list[Kernel], boundary: str):
    import textwrap

    from cnnlab.extras import require

    require("matplotlib", "plot", "the filter grid")
    from matplotlib.figure import Figure  # no pyplot: a notebook's own backend is left alone

    h, w = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    fig_h, fig_w = grid_figure_pixels(h, w, len(kernels) + 1)
    limits.check_pixels(fig_h, fig_w, f"--grid with {len(kernels) + 1} panels", "use fewer kernels")
    limits.check(
        fig_h * fig_w * 4 * 3 + (len(kernels) + 1) * h * w * channels * GRID_BYTES_PER_PANEL_VALUE,
        f"--grid with {len(kernels) + 1} panels of {w:,}×{h:,} ({fig_w:,}×{fig_h:,}-pixel figure)",
        "use fewer kernels or a smaller image",
    )
    panels = [("original", image.clip(0, 255).astype(np.uint8), None)] + [
        (k.name, to_display(apply(image, k, boundary), k), k) for k in kernels
    ]
    cols = min(len(panels), 3)
    rows = -(-len(panels) // cols)
    panel_w = GRID_PANEL_INCHES
    panel_h = panel_w * min(h / w, GRID_MAX_ASPECT)
    fig = Figure(figsize=(panel_w * cols, (panel_h + 1.6) * rows), dpi=GRID_DPI)
    axes = fig.subplots(rows, cols, squeeze=False)
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
    return fig
