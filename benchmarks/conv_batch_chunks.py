"""``convolve_batch(method="fft")`` transforming a few images at a time (``FFT_CHUNK_BYTES``)
against one transform of the whole batch. Backs the figure in ``conv/methods/fft.py``.

    python benchmarks/conv_batch_chunks.py        # ~20 s on 2 CPU cores
"""

from __future__ import annotations

import torch

import common
from cnnlab.conv import convolve_batch
from cnnlab.conv.methods import fft as fft_method

CASES = [  # (images, channels, side, kernel side)
    (64, 1, 256, 15),
    (64, 3, 128, 31),
    (16, 1, 512, 31),
]


def main() -> None:
    torch.manual_seed(0)
    rows = []
    chunk = fft_method.FFT_CHUNK_BYTES
    for n, c, side, k in CASES:
        x, kernel = torch.randn(n, c, side, side), torch.randn(k, k)
        run = lambda: convolve_batch(x, kernel, "same", "fft")  # noqa: E731
        chunked = common.seconds(run)
        fft_method.FFT_CHUNK_BYTES = 1 << 62  # the whole batch in one transform
        try:
            whole = common.seconds(run)
        finally:
            fft_method.FFT_CHUNK_BYTES = chunk
        rows.append(
            {
                "images": f"{n}×{c}×{side}×{side}",
                "kernel": f"{k}×{k}",
                "one_batch_ms": 1e3 * whole,
                "chunked_ms": 1e3 * chunked,
                "speedup": whole / chunked,
            }
        )
    common.print_table(
        rows,
        [
            ("images", "images", ""),
            ("kernel", "kernel", ""),
            ("one_batch_ms", "one batch ms", ".1f"),
            ("chunked_ms", "chunked ms", ".1f"),
            ("speedup", "speedup", ".2f"),
        ],
    )
    common.write_json("conv_batch_chunks", {"chunk_bytes": chunk, "rows": rows})


if __name__ == "__main__":
    main()
