"""translate-and-scale in cache-sized blocks against the same sum done naively (each
shifted copy streamed over the whole stack), on 64×256×256 stacks. Backs the figure in
``conv/methods/translate_and_scale.py`` and the README.

    python benchmarks/conv_blocking.py        # ~20 s on 2 CPU cores
"""

from __future__ import annotations

import torch

import common
from cnnlab.conv.methods.translate_and_scale import add_shifted_copies, blocked

SHAPE = (64, 256, 256)
KERNELS = [3, 5, 7]
DTYPES = [torch.float32, torch.float64]


def main() -> None:
    torch.manual_seed(0)
    rows = []
    for dtype in DTYPES:
        x = torch.randn(SHAPE, dtype=dtype)
        for k in KERNELS:
            kernel = torch.randn(k, k, dtype=dtype)
            full = (SHAPE[0], SHAPE[1] + k - 1, SHAPE[2] + k - 1)
            outs = [torch.zeros(full, dtype=dtype), torch.zeros(full, dtype=dtype)]
            naive = common.seconds(lambda: add_shifted_copies(outs[0].zero_(), x, kernel, False))
            block = common.seconds(lambda: blocked(outs[1].zero_(), x, kernel, False))
            torch.testing.assert_close(outs[0], outs[1])  # the same sum
            rows.append(
                {
                    "dtype": str(dtype).removeprefix("torch."),
                    "kernel": f"{k}×{k}",
                    "naive_ms": 1e3 * naive,
                    "blocked_ms": 1e3 * block,
                    "speedup": naive / block,
                }
            )
    common.print_table(
        rows,
        [
            ("dtype", "dtype", ""),
            ("kernel", "kernel", ""),
            ("naive_ms", "naive ms", ".1f"),
            ("blocked_ms", "blocked ms", ".1f"),
            ("speedup", "speedup", ".2f"),
        ],
    )
    common.write_json("conv_blocking", {"stack": list(SHAPE), "rows": rows})


if __name__ == "__main__":
    main()
