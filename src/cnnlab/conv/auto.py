"""``method="auto"``: pick the fastest method from timings measured on the machine.

The calibration (``calibrate.py``) times every method over a grid of signal and kernel
sizes. To predict a method's time, ``auto`` interpolates the measured log-times bilinearly
in (log signal size, log kernel size): measured timings keep their cliffs, e.g.
``numpy.convolve`` slows 9× between kernels of 7 and 15 taps, torch's float64 ``conv1d``
12× between 63 and 127. A work-count model fitted to the same timings (non-negative
least squares) extrapolates beyond the grid and adjusts for non-square shapes and for the
mode. Each method's work counts are its own (``Method.work`` in its file), e.g.

    translate_and_scale   1, nk, nk·ns          nk vectorized multiply-adds over the signal
    flip_and_filter       1, out·nk, out        a sliding dot product per output
    fft                   1, L·log2 L, L        transforms of the padded size L

(``ns``/``nk``: sizes of the larger/smaller input; ``out``: output size.) The candidates are
the registered methods with ``auto=True`` that the calibration has timed. The shipped
calibration (``calibration.json``) was measured on a 2-core x86-64 CPU; one of your own
(``python benchmarks/conv_calibrate.py`` writes ``~/.cache/cnnlab/conv-calibration.json``)
takes precedence. On a GPU there is no shipped calibration: cnnlab uses the cuDNN direct
method for kernels up to 7×7 (1-D: 63 taps) and the FFT above.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
import torch

from cnnlab.conv.methods import METHODS
from cnnlab.conv.regions import output_shape
from cnnlab.paths import cache_dir

SHIPPED = Path(__file__).with_name("calibration.json")
NUMPY_SMALL_WORK = 1 << 14  # out·nk below which numpy's C loop beats any torch method's fixed cost (measured)
# For numpy 1-D inputs numpy's own loop is also scipy's choice and needs no conversion: leave
# it only for a method predicted at least this much faster (the predictions err by ~10-20%).
SWITCH_MARGIN = 0.8


def user_calibration_path() -> Path:
    """Your own calibration, in cnnlab's cache folder (:func:`cnnlab.paths.cache_dir`)."""
    return cache_dir() / "conv-calibration.json"


@functools.cache
def load_calibration() -> dict:
    for path in (user_calibration_path(), SHIPPED):
        if path.is_file():
            try:
                return json.loads(path.read_text())["models"]
            except (json.JSONDecodeError, KeyError):
                continue
    return {}


def calibration_key(ndim: int, dtype: torch.dtype, device: torch.device, numpy_in: bool) -> str:
    precision = "float32" if dtype in (torch.float32, torch.float16, torch.bfloat16) else "float64"
    backend = "numpy" if numpy_in and ndim == 1 else device.type
    return f"{backend}-{ndim}d-{precision}"


def features(method: str, shape_a: tuple[int, ...], shape_b: tuple[int, ...], mode: str) -> list[float]:
    """The work counts of ``method``'s cost model (from the registry)."""
    return METHODS[method].work(shape_a, shape_b, mode)


def work_model(model: dict, method: str, shape_a, shape_b, mode: str) -> float:
    """The fitted work-count prediction, in seconds."""
    return max(1e-9, sum(c * f for c, f in zip(model["coef"][method], features(method, shape_a, shape_b, mode))))


def _interpolate(axis: list[int], value: float) -> tuple[int, float]:
    """Cell index and weight of ``value`` on the log-spaced ``axis`` (clamped to its ends)."""
    logs = np.log(axis)
    x = math.log(min(max(value, axis[0]), axis[-1]))
    i = int(min(max(np.searchsorted(logs, x) - 1, 0), len(axis) - 2))
    return i, (x - logs[i]) / (logs[i + 1] - logs[i])


def predict(model: dict, method: str, shape_a: tuple[int, ...], shape_b: tuple[int, ...], mode: str) -> float:
    """Predicted seconds: the measured grid at the square-equivalent sizes, scaled by the work
    model from there to the actual shapes and mode."""
    ndim = len(shape_a)
    ns, nk = sorted((math.prod(shape_a), math.prod(shape_b)), reverse=True)
    side_s, side_k = ns ** (1 / ndim), nk ** (1 / ndim)
    i, wi = _interpolate(model["signal"], side_s)
    j, wj = _interpolate(model["kernel"], side_k)
    t = np.asarray(model["log_seconds"][method])
    log_t = (1 - wi) * ((1 - wj) * t[i, j] + wj * t[i, j + 1]) + wi * ((1 - wj) * t[i + 1, j] + wj * t[i + 1, j + 1])
    # the grid point the interpolation stands for, and the work-model ratio to the real call
    gs = math.exp((1 - wi) * math.log(model["signal"][i]) + wi * math.log(model["signal"][i + 1]))
    gk = math.exp((1 - wj) * math.log(model["kernel"][j]) + wj * math.log(model["kernel"][j + 1]))
    square_s, square_k = (max(1, round(gs)),) * ndim, (max(1, round(gk)),) * ndim
    ratio = work_model(model, method, shape_a, shape_b, mode) / work_model(model, method, square_s, square_k, "full")
    return math.exp(log_t) * ratio


@functools.lru_cache(maxsize=4096)
def choose_method(
    shape_a: tuple[int, ...],
    shape_b: tuple[int, ...],
    mode: str,
    dtype: torch.dtype,
    device: torch.device,
    numpy_in: bool,
    allowed: tuple[str, ...] | None = None,
) -> str:
    """The method predicted to be fastest for these shapes on this device (cached per shape),
    among ``allowed`` (default: every auto method; ``convolve`` leaves out those that cannot
    be exact for these values)."""
    allowed = tuple(m for m, spec in METHODS.items() if spec.auto) if allowed is None else allowed
    ndim = len(shape_a)
    nk = min(math.prod(shape_a), math.prod(shape_b))
    out = math.prod(output_shape(shape_a, shape_b, mode))
    direct = "flip_and_filter" if "flip_and_filter" in allowed else allowed[0]
    if numpy_in and ndim == 1 and out * nk <= NUMPY_SMALL_WORK and direct == "flip_and_filter":
        return "flip_and_filter"  # the common small case: numpy's C loop, no model needed
    model = load_calibration().get(calibration_key(ndim, dtype, device, numpy_in))
    if model is None:  # an uncalibrated device (a GPU): direct for small kernels, FFT for large
        small_kernel = nk <= (63 if ndim == 1 else 49)
        return direct if small_kernel or "fft" not in allowed else "fft"
    itemsize = torch.empty(0, dtype=dtype).element_size()
    candidates = [m for m in allowed if m in model["log_seconds"] and METHODS[m].fits(shape_a, shape_b, mode, itemsize)]
    if not candidates:
        return direct
    costs = {m: predict(model, m, shape_a, shape_b, mode) for m in candidates}
    best = min(costs, key=costs.__getitem__)
    if numpy_in and ndim == 1 and "flip_and_filter" in costs and costs[best] > SWITCH_MARGIN * costs["flip_and_filter"]:
        return "flip_and_filter"
    return best
