"""Convolution speed race: every cnnlab method and ``auto`` against scipy and torch.

For 1-D (signals 64 … 1M) and 2-D (images 64² … 4096²) with kernels 3 … 63 (float64):
cnnlab's methods, ``auto``, ``scipy.signal.convolve`` (its own auto), ``convolve2d``,
``fftconvolve``, ``oaconvolve`` and ``torch.nn.functional.conv1d/conv2d`` (with the kernel
flipped). Then batches of images: cnnlab's ``convolve_batch`` against looping scipy over the
batch and against one ``F.conv2d`` call.

Targets (issue 3): auto never more than 10% slower than scipy's auto at any size, faster at
most sizes; a 64×1×256×256 batch with a 7×7 kernel at least 3× faster than looping scipy.

    python benchmarks/conv_speed.py            # ~15 min on 2 cores
    python benchmarks/conv_speed.py --quick    # a smaller grid
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import scipy.signal as ss
import torch
import torch.nn.functional as F

import common
from cnnlab.conv import METHODS, convolve
from cnnlab.conv.auto import choose_method
from cnnlab.conv.batch import convolve_batch

SKIP_AFTER = 0.6  # seconds: a competitor this slow at one size is not timed at larger signals


def best_time(fn, target: float = 0.3, repeats: int = 5) -> float:
    t0 = time.perf_counter()
    fn()
    once = time.perf_counter() - t0
    if once > target:
        return once
    reps = max(1, int(target / repeats / max(once, 1e-7)))
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best


def competitors(a: np.ndarray, b: np.ndarray) -> dict:
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    k = b.shape
    conv = F.conv1d if a.ndim == 1 else F.conv2d
    pads = [s - 1 for s in reversed(k) for _ in (0, 1)]
    fns = {f"cnnlab {m}": (lambda m=m: convolve(a, b, "full", m)) for m in METHODS}
    fns["cnnlab auto"] = lambda: convolve(a, b, "full")
    fns["scipy convolve (auto)"] = lambda: ss.convolve(a, b, "full")
    if a.ndim == 2:
        fns["scipy convolve2d"] = lambda: ss.convolve2d(a, b, "full")
    fns["scipy fftconvolve"] = lambda: ss.fftconvolve(a, b, "full")
    fns["scipy oaconvolve"] = lambda: ss.oaconvolve(a, b, "full")
    fns["torch conv (direct)"] = lambda: conv(F.pad(ta[None, None], pads), tb.flip(tuple(range(a.ndim)))[None, None])
    return fns


def race(ndim: int, signals: list[int], kernels: list[int]) -> list[dict]:
    rng = np.random.default_rng(0)
    rows, slow = [], set()
    for k in kernels:
        for n in signals:
            a = rng.standard_normal((n,) * ndim)
            b = rng.standard_normal((k,) * ndim)
            row = {
                "ndim": ndim,
                "signal": n,
                "kernel": k,
                "auto_choice": choose_method(a.shape, b.shape, "full", torch.float64, torch.device("cpu"), True),
            }
            for name, fn in competitors(a, b).items():
                if (
                    (name, k) in slow
                    or (name == "cnnlab matrix" and a.size * b.size > 5e7)
                    or (name == "cnnlab im2col" and a.size * b.size * 8 > 2**30)
                ):
                    row[name] = None
                    continue
                row[name] = best_time(fn)
                if row[name] > SKIP_AFTER:
                    slow.add((name, k))
            row["ratio_vs_scipy_auto"] = row["cnnlab auto"] / row["scipy convolve (auto)"]
            fastest_other = min(
                v
                for key, v in row.items()
                if isinstance(v, float)
                and key not in ("cnnlab auto", "ratio_vs_scipy_auto")
                and not key.startswith("cnnlab")
            )
            row["ratio_vs_best_other"] = row["cnnlab auto"] / fastest_other
            rows.append(row)
            print(
                f"{ndim}-D n={n:<8} k={k:<3} auto={row['auto_choice']:<20} {row['cnnlab auto'] * 1e3:9.3f} ms   "
                f"scipy auto {row['scipy convolve (auto)'] * 1e3:9.3f} ms   ratio {row['ratio_vs_scipy_auto']:.2f}",
                flush=True,
            )
    return rows


def batch_race(configs: list[tuple]) -> list[dict]:
    rng = np.random.default_rng(1)
    rows = []
    for shape, kshape, dtype in configs:
        x = rng.standard_normal(shape).astype(dtype)
        k = rng.standard_normal(kshape).astype(dtype)
        tx, tk = torch.from_numpy(x), torch.from_numpy(k)
        n, c = shape[:2]
        kk = k if k.ndim == 3 else np.broadcast_to(k, (c, *k.shape))

        def loop_scipy():
            return [[ss.convolve(x[i, j], kk[j], "same") for j in range(c)] for i in range(n)]

        w = tk.flip((-2, -1))
        w = w.expand(c, 1, *tk.shape[-2:]) if tk.ndim == 2 else w[:, None]
        row = {
            "images": "×".join(map(str, shape)),
            "kernel": "×".join(map(str, kshape)),
            "dtype": dtype,
            "cnnlab convolve_batch (auto)": best_time(lambda: convolve_batch(tx, tk, "same")),
            "scipy convolve, looped": best_time(loop_scipy),
            "torch F.conv2d (one call)": best_time(lambda: F.conv2d(tx, w, padding="same", groups=c)),
        }
        row["speedup_vs_scipy_loop"] = row["scipy convolve, looped"] / row["cnnlab convolve_batch (auto)"]
        row["speedup_vs_torch_conv2d"] = row["torch F.conv2d (one call)"] / row["cnnlab convolve_batch (auto)"]
        rows.append(row)
        print(
            f"batch {row['images']} kernel {row['kernel']} {dtype}: cnnlab {row['cnnlab convolve_batch (auto)'] * 1e3:.1f} ms, "
            f"scipy loop {row['scipy convolve, looped'] * 1e3:.1f} ms ({row['speedup_vs_scipy_loop']:.1f}×), "
            f"F.conv2d {row['torch F.conv2d (one call)'] * 1e3:.1f} ms",
            flush=True,
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args()
    kernels = [3, 7, 15, 31, 63]
    if args.quick:
        rows = race(1, [64, 1024, 65536], [3, 31]) + race(2, [64, 256], [3, 15])
    else:
        rows = race(1, [64, 256, 1024, 4096, 65536, 1048576], kernels) + race(2, [64, 256, 1024, 4096], kernels)
    batches = batch_race(
        [
            ((64, 1, 256, 256), (7, 7), "float64"),
            ((64, 1, 256, 256), (7, 7), "float32"),
            ((64, 3, 128, 128), (3, 5, 5), "float32"),
            ((256, 1, 28, 28), (3, 3), "float32"),
        ]
    )

    print("\nper size, milliseconds (— = skipped: too slow at a smaller size)")
    names = [k for k in rows[0] if k.startswith(("cnnlab", "scipy", "torch"))]
    table = [
        {
            "size": f"{r['ndim']}-D {r['signal']}{'²' if r['ndim'] == 2 else ''} k{r['kernel']}",
            "auto picks": r["auto_choice"],
            **{n: (r[n] * 1e3 if r[n] is not None else None) for n in names},
            "auto/scipy": r["ratio_vs_scipy_auto"],
        }
        for r in rows
    ]
    common.print_table(
        table,
        [("size", "size", ""), ("auto picks", "auto picks", "")]
        + [
            (n, n.replace("cnnlab ", "").replace("scipy ", "sp ").replace("torch conv (direct)", "torch"), ".3g")
            for n in names
        ]
        + [("auto/scipy", "auto/scipy", ".2f")],
    )
    ratios = [r["ratio_vs_scipy_auto"] for r in rows]
    verdict = {
        "max_ratio_auto_vs_scipy_auto": max(ratios),
        "worst_size": next(
            f"{r['ndim']}-D n={r['signal']} k={r['kernel']}" for r in rows if r["ratio_vs_scipy_auto"] == max(ratios)
        ),
        "sizes_faster_than_scipy": sum(x < 1 for x in ratios),
        "sizes": len(ratios),
        "geomean_speedup_vs_scipy_auto": float(np.exp(-np.mean(np.log(ratios)))),
        "batch_64x1x256x256_7x7_speedup_vs_scipy_loop": batches[0]["speedup_vs_scipy_loop"],
    }
    verdict["met"] = (
        verdict["max_ratio_auto_vs_scipy_auto"] <= 1.10
        and verdict["sizes_faster_than_scipy"] > len(ratios) / 2
        and verdict["batch_64x1x256x256_7x7_speedup_vs_scipy_loop"] >= 3
    )
    print("\n" + "\n".join(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}" for k, v in verdict.items()))
    common.write_json("conv_speed", {"rows": rows, "batches": batches, "verdict": verdict}, args.out)


if __name__ == "__main__":
    main()
