"""Resource limits: estimate the memory a request needs *before* allocating it, and refuse
beyond a limit in one line that names the flag to change and the limit (issue 14).

The limit is, by default, half the memory available when the command starts
(``MemAvailable`` in ``/proc/meminfo``), so a mistyped ``--scale 1000`` is refused instead
of waking the kernel's out-of-memory killer. Change it with ``cnnlab --max-memory SIZE``
(``8G``, ``512M``, ``2.5GiB``, plain bytes) or the ``CNNLAB_MAX_MEMORY`` variable; the flag
wins. Images also have a pixel limit, ``MAX_PIXELS``, checked from the file's header,
before Pillow's own decompression-bomb guard could call a large image "not an image".

The estimates count the big arrays a command makes (tensors, images, figure canvases) and
round up; they are deliberately coarse: the point is to tell 2 GB from 2 TB.

>>> check(10 * 2**30, "--scale 1000", "lower --scale", limit=2**30)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
cnnlab.errors.ResourceError: --scale 1000 needs about 10.0 GiB, over cnnlab's memory limit of 1.0 GiB ...
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from cnnlab.errors import ResourceError

if TYPE_CHECKING:  # torch is imported only by the estimates that need it
    from torch import nn

ENV = "CNNLAB_MAX_MEMORY"
DEFAULT_FRACTION = 0.5  # of the memory available when the command starts
FALLBACK_AVAILABLE = 4 * 2**30  # when the available memory cannot be read (not Linux)
MAX_PIXELS = 100_000_000  # images read or written: width × height (a 10,000 × 10,000 photo)

_flag_value: str | None = None  # `cnnlab --max-memory`, set by the CLI

_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_UNITS.update({"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "kb": 10**3, "mb": 10**6, "gb": 10**9})
_UNITS.update({"tb": 10**12})


def parse_size(text: str, source: str = "--max-memory") -> int:
    """Bytes from ``"8G"``, ``"512M"``, ``"2.5GiB"`` or ``"1000000"`` (k/M/G/T are powers of 1000)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    unit = m.group(2).lower() if m else None
    if m is None or unit not in _UNITS or float(m.group(1)) <= 0:
        raise ResourceError(f"{source} {text!r} is not a memory size; write e.g. 8G, 512M, 2.5GiB or a number of bytes")
    return int(float(m.group(1)) * _UNITS[unit])


def set_max_memory(text: str | None) -> None:
    """The CLI's ``--max-memory`` (None: back to the environment variable or the default)."""
    global _flag_value
    if text is not None:
        parse_size(text)  # refuse a bad value at once, not at the first check
    _flag_value = text


def available_memory() -> int:
    """Bytes of memory available to a new allocation now (Linux: MemAvailable)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return FALLBACK_AVAILABLE


def max_memory() -> tuple[int, str]:
    """(limit in bytes, where it comes from) for the messages."""
    if _flag_value is not None:
        return parse_size(_flag_value), f"--max-memory {_flag_value}"
    env = os.environ.get(ENV)
    if env:
        return parse_size(env, ENV), f"{ENV}={env}"
    available = available_memory()
    return int(available * DEFAULT_FRACTION), f"half the {format_bytes(available)} available"


def format_bytes(n: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} bytes"


def check(need: float, what: str, fix: str, limit: int | None = None) -> None:
    """Raise one line if ``need`` bytes exceed the limit. ``what`` names the request (the
    flag and its value), ``fix`` says how to make it smaller."""
    source = "given"
    if limit is None:
        limit, source = max_memory()
    if need > limit:
        raise ResourceError(
            f"{what} needs about {format_bytes(need)}, over cnnlab's memory limit of {format_bytes(limit)} "
            f"({source}); {fix}, or raise the limit with --max-memory SIZE (or {ENV})"
        )


def check_pixels(h: int, w: int, what: str, fix: str, max_pixels: int = MAX_PIXELS) -> None:
    """Refuse an image (read or written) of more than ``max_pixels`` pixels."""
    if h * w > max_pixels:
        raise ResourceError(
            f"{what} is {w:,}×{h:,} = {w * h:,} pixels, over cnnlab's {max_pixels:,}-pixel limit; {fix}"
        )


def image_bytes(h: int, w: int, channels: int = 1, itemsize: int = 8, copies: int = 1) -> int:
    """Bytes of ``copies`` (H, W, C) arrays of ``itemsize``-byte values."""
    return h * w * channels * itemsize * copies


def model_bytes(build: Callable[[], nn.Module]) -> int:
    """Bytes of a model's parameters and buffers, counted on a model built on the meta device
    (no memory is allocated). 0 if the model cannot be built there."""
    import torch

    try:
        with torch.device("meta"):
            model = build()
        tensors = [*model.parameters(), *model.buffers()]
        return sum(t.numel() * t.element_size() for t in tensors)
    except ResourceError:
        raise
    except Exception:  # a model whose constructor needs real values: no estimate
        return 0
