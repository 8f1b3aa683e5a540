"""Measure every method over a grid of sizes and fit the cost model of ``auto.py``.

    python benchmarks/conv_calibrate.py        # ~10 min on 2 cores; writes the user calibration

A measurement is skipped once the same method took over ``budget`` seconds at a smaller
signal with the same kernel (it is then far from the fastest, and the fit extrapolates).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

import numpy as np
import torch
from scipy.optimize import nnls

from cnnlab.conv.api import convolve
from cnnlab.conv.auto import features
from cnnlab.conv.registry import auto_methods

GRID_1D = {
    "signal": [16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576],
    "kernel": [1, 3, 7, 15, 31, 63, 127, 255, 1023],
}
GRID_2D = {"signal": [8, 16, 32, 64, 128, 256, 512, 1024, 2048], "kernel": [1, 3, 5, 7, 11, 15, 21, 31, 63]}


def time_call(fn: Callable[[], object], target: float = 0.05, repeats: int = 3) -> float:
    """Best-of-``repeats`` seconds per call, each repeat running ~``target`` seconds."""
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    reps = max(1, int(target / max(once, 1e-7)))
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - start) / reps)
    return best


def measure(
    ndim: int, dtype: str, backend: str, budget: float = 0.25, log: Callable[[str], None] = print
) -> list[dict]:
    """Timings of every auto method over the grid, for numpy or torch-CPU inputs."""
    grid = GRID_1D if ndim == 1 else GRID_2D
    rng = np.random.default_rng(0)
    rows = []
    for method in auto_methods():
        if backend == "numpy" and method != "flip_and_filter":
            continue  # numpy 1-D inputs share the torch-CPU timings of the other methods
        for k in grid["kernel"]:
            for n in grid["signal"]:
                if k > n:
                    continue
                if rows and any(
                    r["method"] == method and r["kernel"] == k and r["signal"] < n and r["seconds"] > budget
                    for r in rows
                ):
                    continue
                shape_a, shape_b = (n,) * ndim, (k,) * ndim
                if method == "im2col" and math.prod(shape_a) * math.prod(shape_b) * 8 > 1 << 30:
                    continue
                if method == "translate_and_scale" and math.prod(shape_b) > 1024:
                    continue
                a = rng.standard_normal(shape_a).astype(dtype)
                b = rng.standard_normal(shape_b).astype(dtype)
                if backend == "cpu":
                    a, b = torch.from_numpy(a), torch.from_numpy(b)
                seconds = time_call(lambda: convolve(a, b, "full", method))
                rows.append({"method": method, "signal": n, "kernel": k, "seconds": seconds})
                log(f"{backend}-{ndim}d-{dtype} {method:>20} n={n:<8} k={k:<5} {seconds * 1e3:9.3f} ms")
    return rows


def fit(rows: Iterable[dict], ndim: int, budget: float = 0.25) -> tuple[dict, dict]:
    """The model for one key: NNLS coefficients per method (minimizing relative error) and the
    grid of measured log-times (gaps filled from the coefficients); plus error stats."""
    rows = list(rows)
    grid = GRID_1D if ndim == 1 else GRID_2D
    coef, stats, log_seconds = {}, {}, {}
    for method in sorted({r["method"] for r in rows}):
        mine = [r for r in rows if r["method"] == method]
        X = np.array([features(method, (r["signal"],) * ndim, (r["kernel"],) * ndim, "full") for r in mine])
        t = np.array([r["seconds"] for r in mine])
        c, _ = nnls(X / t[:, None], np.ones(len(t)))
        coef[method] = c.tolist()
        rel = np.abs(X @ c - t) / t
        stats[method] = {"median_rel_error": float(np.median(rel)), "max_rel_error": float(rel.max()), "points": len(t)}
        measured = {(r["signal"], r["kernel"]): r["seconds"] for r in mine}
        table = []
        for n in grid["signal"]:
            row = []
            for k in grid["kernel"]:
                seconds = measured.get((n, k))
                if seconds is None:  # not measured: extrapolate; if skipped for being slow, at least that slow
                    seconds = float(np.dot(c, features(method, (n,) * ndim, (k,) * ndim, "full")))
                    slower = [v for (m, kk), v in measured.items() if kk == k and m < n and v > budget]
                    if slower:
                        seconds = max(
                            seconds, max(slower) * (n / max(m for (m, kk) in measured if kk == k and m < n)) ** ndim
                        )
                row.append(math.log(max(seconds, 1e-9)))
            table.append(row)
        log_seconds[method] = table
    model = {"coef": coef, "signal": grid["signal"], "kernel": grid["kernel"], "log_seconds": log_seconds}
    return model, stats


def fit_all(measured: dict[str, list[dict]]) -> tuple[dict, dict]:
    """Models and fit statistics for every key; numpy-1d borrows the torch-CPU timings of the
    methods other than its own ``flip_and_filter`` (numpy.convolve)."""
    models, stats = {}, {}
    for key, rows in measured.items():
        backend, nd, dt = key.split("-")
        if backend == "numpy":
            rows = rows + [r for r in measured.get(f"cpu-{nd}-{dt}", []) if r["method"] != "flip_and_filter"]
        models[key], stats[key] = fit(rows, int(nd[0]))
    return models, stats


def calibrate(keys: Iterable[tuple[int, str, str]] | None = None, log: Callable[[str], None] = print) -> dict:
    """Measure every (ndim, dtype, backend) key and fit the models."""
    keys = list(
        keys
        or [
            (1, "float64", "cpu"),
            (1, "float32", "cpu"),
            (1, "float64", "numpy"),
            (1, "float32", "numpy"),
            (2, "float64", "cpu"),
            (2, "float32", "cpu"),
        ]
    )
    measured = {f"{b}-{nd}d-{dt}": measure(nd, dt, b, log=log) for nd, dt, b in keys}
    models, stats = fit_all(measured)
    return {"models": models, "fit": stats, "measurements": measured}
