"""Checks of ``cnnlab size`` against reality: speed, and memory estimates against the
measured peak of a real training step and a real inference pass on this CPU.

Memory is measured with torch's allocator-level memory timeline (``torch.profiler`` with
``profile_memory=True``): the peak of bytes allocated during the step, not counting what
existed before it (weights, the input batch). The estimate compared with it is cnnlab's
"activations kept for backprop" (what autograd saves); the step also needs the gradients
and backward's temporaries, so the measured peak is larger: the ratio says by how much.

    python benchmarks/size_check.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

import common
from cnnlab.models import create
from cnnlab.size import analyze

CASES = [("lenet5", (1, 28, 28), 64), ("alexnet", (3, 224, 224), 8), ("resnet18", (3, 224, 224), 8)]


def peak_new_bytes(fn) -> int:
    """Peak of bytes allocated while ``fn`` runs, above what existed before (allocator timeline)."""
    from torch.profiler import _memory_profiler as mp  # internal, but the only allocator-exact CPU view

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True) as prof:
        fn()
    current = peak = 0
    for _, action, _, size in mp.MemoryProfile(prof.profiler.kineto_results).timeline:
        if action == mp.Action.CREATE:
            current += size
        elif action == mp.Action.DESTROY:
            current -= size
        peak = max(peak, current)
    return peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out")
    args = ap.parse_args()

    model = create("resnet152")
    times = []
    for _ in range(5):
        t = time.perf_counter()
        analyze(model, (3, 224, 224))
        times.append(time.perf_counter() - t)
    speed = {
        "model": "resnet152",
        "input": "3×224×224",
        "best_seconds": min(times),
        "median_seconds": statistics.median(times),
        "target_seconds": 2.0,
    }
    print(
        f"analyse ResNet-152 at 3×224×224: best {min(times):.2f} s, median {statistics.median(times):.2f} s (target < 2 s)\n"
    )

    rows = []
    for name, shape, batch in CASES:
        torch.manual_seed(0)
        net = create(name)
        report = analyze(net, shape, batch=batch)
        x = torch.randn(batch, *shape)
        y = torch.randint(0, 10, (batch,))

        def train_step():
            loss = F.cross_entropy(net(x), y)
            loss.backward()

        def inference():
            with torch.no_grad():
                net(x)

        net.train()
        train_step()  # warm-up: lazily created buffers are not part of a step
        net.zero_grad(set_to_none=True)
        trained = peak_new_bytes(train_step)
        net.eval()
        inferred = peak_new_bytes(inference)
        est_train = report.totals["train_activation_bytes"]
        est_infer = report.totals["inference_peak_bytes"] - x.numel() * 4  # the input existed before
        rows.append(
            {
                "model": name,
                "batch": batch,
                "input": "×".join(map(str, shape)),
                "estimate_saved_MiB": est_train / 2**20,
                "measured_train_peak_MiB": trained / 2**20,
                "train_ratio": trained / est_train,
                "estimate_plus_grads_MiB": (est_train + report.totals["param_bytes"]) / 2**20,
                "train_ratio_with_grads": trained / (est_train + report.totals["param_bytes"]),
                "estimate_inference_MiB": est_infer / 2**20,
                "measured_inference_peak_MiB": inferred / 2**20,
                "inference_ratio": inferred / est_infer,
            }
        )
        print(
            f"{name}: estimate {est_train / 2**20:.1f} MiB saved, measured step peak {trained / 2**20:.1f} MiB; "
            f"inference {est_infer / 2**20:.1f} vs {inferred / 2**20:.1f} MiB",
            flush=True,
        )
    print()
    common.print_table(
        rows,
        [
            ("model", "model", ""),
            ("batch", "batch", "d"),
            ("estimate_saved_MiB", "saved act. (est.) MiB", ".1f"),
            ("estimate_plus_grads_MiB", "+ grads (est.) MiB", ".1f"),
            ("measured_train_peak_MiB", "train step peak MiB", ".1f"),
            ("train_ratio", "peak / saved", ".2f"),
            ("train_ratio_with_grads", "peak / (saved+grads)", ".2f"),
            ("estimate_inference_MiB", "inference (est.) MiB", ".1f"),
            ("measured_inference_peak_MiB", "inference peak MiB", ".1f"),
            ("inference_ratio", "measured / est.", ".2f"),
        ],
    )
    common.write_json("size_check", {"speed": speed, "memory": rows}, args.out)


if __name__ == "__main__":
    main()
