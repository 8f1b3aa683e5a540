"""``LocallyConnected2d`` (one gather + one batched GEMM) against the textbook locally
connected layer (``F.unfold`` + ``einsum``): forward + backward, batch 128, the two layers of
the invariance experiment's ``lc-baseline``. Backs the README's "Layers and models" figure.

    python benchmarks/locally_connected_speed.py        # ~30 s on 2 CPU cores
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

import common
from cnnlab.nn import LocallyConnected2d

CASES = [  # (in channels, out channels, input side, kernel)
    (1, 16, 40, 5),
    (16, 32, 20, 5),
]
BATCH = 128


def textbook(layer: LocallyConnected2d, x: torch.Tensor) -> torch.Tensor:
    """The usual formulation: every window as a column, then one einsum with per-position filters."""
    (kh, kw), (oh, ow) = layer.kernel_size, layer.output_size
    cols = F.unfold(x, (kh, kw), stride=layer.stride)  # (N, I·kh·kw, H'·W')
    out = torch.einsum("nkl,ljk->njl", cols, layer.weight)  # (N, J, H'·W')
    return out.reshape(x.shape[0], layer.out_channels, oh, ow) + layer.bias


def step_seconds(fn, x: torch.Tensor, repeats: int = 5) -> float:
    """Best of ``repeats`` forward + backward passes."""
    fn(x).sum().backward()  # warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x).sum().backward()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    torch.manual_seed(0)
    rows = []
    for cin, cout, side, k in CASES:
        layer = LocallyConnected2d(cin, cout, side, k)
        x = torch.randn(BATCH, cin, side, side)
        torch.testing.assert_close(layer(x), textbook(layer, x), rtol=1e-4, atol=1e-4)  # the same layer
        ours, theirs = step_seconds(layer, x), step_seconds(lambda t: textbook(layer, t), x)
        rows.append(
            {
                "layer": f"{cout}@{k}×{k} on {side}×{side}×{cin}",
                "cnnlab_ms": 1e3 * ours,
                "unfold_einsum_ms": 1e3 * theirs,
                "speedup": theirs / ours,
            }
        )
    common.print_table(
        rows,
        [
            ("layer", "layer", ""),
            ("cnnlab_ms", "cnnlab ms", ".1f"),
            ("unfold_einsum_ms", "unfold+einsum ms", ".1f"),
            ("speedup", "speedup", ".2f"),
        ],
    )
    common.write_json("locally_connected_speed", {"batch": BATCH, "pass": "forward + backward", "rows": rows})


if __name__ == "__main__":
    main()
