"""PNG bytes from the page (or anyone) -> the 28×28 image an MNIST network expects.

MNIST's own recipe (LeCun et al. 1998, section III.A): the digit's bounding box is scaled
to fit 20×20 keeping its aspect ratio, then placed in a 28×28 field so that its centre of
mass sits at the centre. A drawing on the page's 280×280 canvas goes through the same
steps, so a digit drawn small in a corner is still recognized. An image that is already
28×28 is taken as it is (an MNIST digit saved as PNG stays exact). Dark ink on a light
background (a photo of paper) is inverted to MNIST's white-on-black.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_PIXELS = 4096 * 4096  # larger images are refused before they are decoded (decompression bombs)
SIDE = 28
BOX = 20


class BadImage(ValueError):
    """An image the server refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def open_png(data: bytes, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """PNG bytes -> the decoded PIL image, or a :class:`BadImage` saying what is wrong."""
    if not data:
        raise BadImage(400, "empty body: send the PNG file's bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            if im.format != "PNG":
                raise BadImage(415, f"the body is a {im.format} image, not a PNG; convert it to PNG first")
            w, h = im.size
            if w * h > max_pixels:
                raise BadImage(413, f"image is {w}×{h} pixels; at most {max_pixels:,} pixels are accepted")
            im.load()
    except BadImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadImage(413, f"image has too many pixels; at most {max_pixels:,} are accepted") from None
    except UnidentifiedImageError as e:
        raise BadImage(400, f"the body is not a readable PNG image ({type(e).__name__})") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise BadImage(400, f"the PNG is damaged or truncated ({e})") from None
    return im


def _opaque(im: Image.Image) -> bool:
    """No pixel is transparent (a canvas's own PNG is RGBA with alpha 255 everywhere)."""
    if im.mode in ("L", "RGB", "I", "I;16", "F", "1"):
        return True
    if im.mode in ("RGBA", "LA"):
        return im.getchannel("A").getextrema()[0] == 255
    return im.mode == "P" and "transparency" not in im.info


def decode_png(data: bytes, max_pixels: int = MAX_PIXELS, rgb: bool = False) -> np.ndarray:
    """PNG bytes -> (H, W) float32 grey levels in [0, 1] (``rgb``: (3, H, W) colours);
    transparent pixels count as background."""
    im = open_png(data, max_pixels)
    if rgb:
        colours = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0  # (H, W, 3)
        return np.ascontiguousarray(colours.transpose(2, 0, 1))  # (3, H, W)
    return _grey(im)


def _grey(im: Image.Image) -> np.ndarray:
    """A decoded image -> (H, W) float32 grey levels in [0, 1]; transparent pixels are background."""
    if not _opaque(im):  # paint on a transparent sheet: the ink is where alpha is
        rgba = im.convert("RGBA")
        alpha = np.asarray(rgba, dtype=np.float32)[..., 3] / 255.0  # (H, W)
        grey = np.asarray(rgba.convert("L"), dtype=np.float32) / 255.0
        opaque = alpha > 0.5
        paper = 0.0 if not opaque.any() or np.median(grey[opaque]) > 0.5 else 1.0
        return (grey * alpha + paper * (1 - alpha)).astype(np.float32)
    return np.asarray(im.convert("L"), dtype=np.float32) / 255.0


def digit_from_png(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """PNG bytes -> the (28, 28) float32 MNIST-centred digit: ``to_mnist(decode_png(data))``,
    on 8-bit levels when the image is opaque (the page's own drawings), ~3× sooner."""
    im = open_png(data, max_pixels)
    if _opaque(im):
        return to_mnist(np.asarray(im.convert("L")))  # (H, W) uint8
    return to_mnist(_grey(im))  # composited on its paper, as decode_png does


def to_mnist(grey: np.ndarray) -> np.ndarray:
    """(H, W) grey (float in [0, 1], or uint8 levels) -> (28, 28) float32 white digit on
    black, centred like MNIST."""
    if grey.dtype == np.uint8:
        if np.concatenate(_border(grey)).mean() > 127.5:  # dark ink on light paper
            grey = 255 - grey
        if grey.shape == (SIDE, SIDE):
            return grey.astype(np.float32) / 255.0
        ink = grey > 25  # > 0.1 of full scale
    else:
        if np.concatenate(_border(grey)).mean() > 0.5:  # dark ink on light paper
            grey = 1.0 - grey
        if grey.shape == (SIDE, SIDE):
            return grey.astype(np.float32)  # an MNIST digit saved as PNG stays exact
        ink = grey > 0.1
    if not ink.any():
        return np.zeros((SIDE, SIDE), np.float32)
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    crop = grey[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]  # (h, w)
    if crop.dtype != np.uint8:
        crop = (crop * 255).astype(np.uint8)
    h, w = crop.shape
    scale = BOX / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = Image.fromarray(np.ascontiguousarray(crop)).resize((nw, nh), Image.Resampling.LANCZOS)
    small = np.asarray(small, dtype=np.float32) / 255.0  # (nh, nw)
    mass = small.sum()
    cy = (small.sum(1) * np.arange(nh)).sum() / mass if mass > 0 else (nh - 1) / 2
    cx = (small.sum(0) * np.arange(nw)).sum() / mass if mass > 0 else (nw - 1) / 2
    top = int(np.clip(round(SIDE / 2 - 0.5 - cy), 0, SIDE - nh))
    left = int(np.clip(round(SIDE / 2 - 0.5 - cx), 0, SIDE - nw))
    out = np.zeros((SIDE, SIDE), np.float32)
    out[top : top + nh, left : left + nw] = small
    return out


def _border(a: np.ndarray) -> list[np.ndarray]:
    return [a[0], a[-1], a[:, 0], a[:, -1]]


def to_native(img: np.ndarray, native: tuple[int, int, int], digits: bool) -> np.ndarray:
    """A decoded image -> the dataset's own image shape: MNIST's centring for digit datasets,
    a plain resize for others. (H, W) grey or (3, H, W) in; (H, W) or (C, H, W) out."""
    c, h, w = native
    if digits:
        grey = to_mnist(img if img.ndim == 2 else img.mean(0))  # (28, 28)
        if (h, w) == grey.shape:
            return grey
        return _resize(grey, h, w)
    if img.ndim == 2:
        img = np.repeat(img[None], c, 0)  # grey drawing into an RGB dataset
    if img.shape[1:] == (h, w):
        return img.astype(np.float32)
    return np.stack([_resize(ch, h, w) for ch in img])  # (C, h, w)


def native_from_png(data: bytes, native: tuple[int, int, int], digits: bool, max_pixels: int = MAX_PIXELS):
    """PNG bytes -> the dataset's own image shape: ``to_native(decode_png(data), ...)``, with
    :func:`digit_from_png`'s 8-bit path for 1-channel digit datasets."""
    c, h, w = native
    if digits and c == 1:
        grey = digit_from_png(data, max_pixels)  # (28, 28)
        return grey if (h, w) == grey.shape else _resize(grey, h, w)
    return to_native(decode_png(data, max_pixels, rgb=c == 3), native, digits)


def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    im = Image.fromarray(img.astype(np.float32), mode="F").resize((w, h), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(im, dtype=np.float32), 0.0, 1.0)


def encode_png(img: np.ndarray) -> bytes:
    """(H, W) grey or (3, H, W) colour in [0, 1] -> PNG bytes (8-bit)."""
    buf = io.BytesIO()
    pixels = np.clip(np.round(img * 255), 0, 255).astype(np.uint8)
    if pixels.ndim == 3:
        Image.fromarray(np.ascontiguousarray(pixels.transpose(1, 2, 0)), mode="RGB").save(buf, format="PNG")
    else:
        Image.fromarray(pixels, mode="L").save(buf, format="PNG")
    return buf.getvalue()
