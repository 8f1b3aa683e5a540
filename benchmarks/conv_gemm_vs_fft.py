"""The lecture's aside, measured: "[matrix multiplication] is how convolution is typically
implemented. (More efficient than the FFT for modern conv nets on GPUs!)"

Conv-net-sized problems (a batch of multi-channel feature maps, small kernels, many
filters): torch's direct/GEMM convolution (``F.conv2d``: cuDNN on a GPU, oneDNN on a CPU)
against FFT convolution (``cnnlab.conv.convolve_batch(method="fft")``, summing over input
channels in the frequency domain); then one large image with a large kernel. Runs on the GPU
when there is one (``--device cuda``), else on the CPU.

    python benchmarks/conv_gemm_vs_fft.py [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

import common
from cnnlab.conv.batch import convolve_batch

CONV_NET = [  # (batch, channels in = out, image side, kernel side)
    (64, 32, 32, 3),
    (64, 64, 16, 3),
    (64, 32, 32, 5),
    (64, 64, 16, 7),
    (64, 128, 8, 3),
    (128, 64, 16, 3),
    (256, 32, 16, 3),
]
LARGE = [(1, 1, 1024, 31), (1, 1, 2048, 63), (8, 1, 512, 31)]


def timed(fn, device, repeats=5) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out")
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    rows = []
    for kind, problems in (("conv-net layer", CONV_NET), ("large kernel", LARGE)):
        for n, c, side, k in problems:
            x = torch.randn(n, c, side, side, device=device)
            w = torch.randn(c, c, k, k, device=device)  # c filters over c channels
            direct = timed(lambda: F.conv2d(x, w.flip((-2, -1)), padding=k // 2), device)
            fft = timed(lambda: convolve_batch(x, w, "same", "fft"), device)
            out_a = F.conv2d(x, w.flip((-2, -1)), padding=k // 2)
            out_b = convolve_batch(x, w, "same", "fft")
            err = ((out_a - out_b).abs().max() / out_a.abs().max()).item()
            rows.append(
                {
                    "kind": kind,
                    "problem": f"{n}×{c}×{side}² * {c}×{c}×{k}²",
                    "gmacs": n * c * c * side * side * k * k / 1e9,
                    "direct_ms": direct * 1e3,
                    "fft_ms": fft * 1e3,
                    "fft_over_direct": fft / direct,
                    "max_rel_diff": err,
                }
            )
            print(
                f"{kind:15} {rows[-1]['problem']:28} direct {direct * 1e3:9.2f} ms   fft {fft * 1e3:9.2f} ms",
                flush=True,
            )
    print()
    common.print_table(
        rows,
        [
            ("kind", "kind", ""),
            ("problem", "problem (N×C×H² * O×C×K²)", ""),
            ("gmacs", "GMAC", ".3f"),
            ("direct_ms", "direct/GEMM ms", ".2f"),
            ("fft_ms", "FFT ms", ".2f"),
            ("fft_over_direct", "FFT / direct", ".2f"),
        ],
    )
    common.write_json(f"conv_gemm_vs_fft_{device.type}", {"device": str(device), "rows": rows}, args.out)


if __name__ == "__main__":
    main()
