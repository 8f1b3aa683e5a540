"""One training step of the race net, with and without FlattenLinear's channels-last path (issue 19).

The race (``mnist_speed.py``) trains channels-last. Before its fully connected layer, a net
flattens the last feature map: ``x.flatten(1)`` of a channels-last map copies it into
(C, H, W) order, and hands back an NCHW gradient to the channels-last ReLU and batch norm
below. ``FlattenLinear`` reads the map in its stored order against a permuted copy of the
weight (when the batch has more images than the layer has outputs: mnist-race's 256 against
128). Both variants here are the same net, with the same weights and batches, and the same
optimizer as the model's recipe. They are timed in turn in one process, the order swapped every
round, so the machine's swings hit both alike.

    python benchmarks/race_step.py                  # mnist-race at its recipe's batch (256)
    python benchmarks/race_step.py --rounds 5       # a quick look
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import common  # noqa: F401  (puts src/ on the path)
from cnnlab.models import create
from cnnlab.models.blocks import FlattenLinear
from cnnlab.train.optim import build_optimizer
from cnnlab.train.run import config_for


def copy_flatten(net: nn.Module) -> None:
    """Make every FlattenLinear of ``net`` flatten as ``x.flatten(1)`` does (the copy), same weights."""

    def forward(self: FlattenLinear, x: Tensor) -> Tensor:
        return nn.Linear.forward(self, x.flatten(1))

    for m in net.modules():
        if isinstance(m, FlattenLinear):
            m.forward = forward.__get__(m)  # pyright: ignore[reportAttributeAccessIssue]


def stepper(model: str, variant: str, x: Tensor, y: Tensor):
    cfg = config_for(model)
    torch.manual_seed(0)
    net = create(model, 10, 1, (28, 28)).to(memory_format=torch.channels_last)  # pyright: ignore[reportCallIssue]
    if variant == "flatten copy":
        copy_flatten(net)
    net.train()
    optimizer = build_optimizer(net, cfg)

    def step() -> None:
        loss = F.cross_entropy(net(x), y, label_smoothing=cfg.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["mnist-race"])
    ap.add_argument("--rounds", type=int, default=21, help="timed rounds per variant, taken in turn [21]")
    ap.add_argument("--steps", type=int, default=30, help="steps per round [30]")
    ap.add_argument("--out", help="JSON path [benchmarks/results/race_step.json]")
    args = ap.parse_args()
    variants = ["flatten copy", "FlattenLinear"]
    rows = []
    for model in args.models:
        batch = config_for(model).batch_size
        g = torch.Generator().manual_seed(0)
        x = torch.randn(batch, 1, 28, 28, generator=g).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, 10, (batch,), generator=g)
        steps = {v: stepper(model, v, x, y) for v in variants}
        for step in steps.values():  # warm-up: oneDNN builds its kernels
            for _ in range(10):
                step()
        times: dict[str, list[float]] = {v: [] for v in variants}
        for r in range(args.rounds):
            for v in variants if r % 2 == 0 else variants[::-1]:  # neither always goes first
                start = time.perf_counter()
                for _ in range(args.steps):
                    steps[v]()
                times[v].append((time.perf_counter() - start) / args.steps)
        base = statistics.median(times[variants[0]])
        for v in variants:
            ms = statistics.median(times[v])
            rows.append(
                {
                    "model": model,
                    "variant": v,
                    "batch_size": batch,
                    "ms_per_step": 1e3 * ms,
                    "ms_per_step_min": 1e3 * min(times[v]),
                    "images_per_second": batch / ms,
                    "speedup": base / ms,
                    "rounds_ms": [round(1e3 * t, 3) for t in times[v]],
                }
            )
    common.print_table(
        rows,
        [
            ("model", "model", ""),
            ("variant", "flatten", ""),
            ("batch_size", "batch", "d"),
            ("ms_per_step", "ms/step (median)", ".2f"),
            ("ms_per_step_min", "ms/step (min)", ".2f"),
            ("images_per_second", "img/s", ",.0f"),
            ("speedup", "× copy", ".2f"),
        ],
    )
    common.write_json("race_step", {"rounds": args.rounds, "steps_per_round": args.steps, "rows": rows}, args.out)


if __name__ == "__main__":
    main()
