"""Training throughput (images/s) of cnnlab's loop under each speed option, on synthetic data.

    LeNet-5 at 1×28×28, ResNet-18 (CIFAR stem) at 3×32×32, ResNet-50 at 3×224×224;
    options: fp32 NCHW, fp32 channels_last, bf16 autocast (NCHW / channels_last), fp16
    autocast (GPU), and torch.compile (--compile: it costs minutes of compile time on a CPU).

The data sits on the device as uint8, as in real cnnlab runs; timing excludes a warm-up.

    python benchmarks/throughput.py                   # CPU: a few minutes on 2 cores
    python benchmarks/throughput.py --device cuda --compile
"""

from __future__ import annotations

import argparse

import torch

import common
from cnnlab.data.memory import ImageTensors
from cnnlab.models import create
from cnnlab.train.config import TrainConfig
from cnnlab.train.loop import EpochState, epoch_batches, train_one_epoch
from cnnlab.train.optim import build_optimizer, build_schedule

CASES = [  # model, (C, H, W), batch, steps on CPU, steps on GPU
    ("lenet5", (1, 28, 28), 128, 60, 400),
    ("resnet18-small", (3, 32, 32), 128, 6, 100),
    ("resnet50", (3, 224, 224), 16, 3, 40),
]


def options(device: torch.device, with_compile: bool):
    opts = [
        ("fp32", False, "none", False),
        ("fp32 + channels_last", True, "none", False),
        ("bf16 autocast", False, "bf16", False),
        ("bf16 + channels_last", True, "bf16", False),
    ]
    if device.type == "cuda":
        opts.append(("fp16 autocast + channels_last", True, "fp16", False))
    if with_compile:
        opts.append(("compile + best of above", True, "bf16" if device.type == "cuda" else "none", True))
    return opts


def measure(model_name, shape, batch, steps, device, channels_last, amp, compile_) -> float:
    torch.manual_seed(0)
    n = batch * (steps + 2)
    data = ImageTensors(
        torch.randint(0, 256, (n, *shape), dtype=torch.uint8),
        torch.randint(0, 10, (n,)),
        (0.5,) * shape[0],
        (0.25,) * shape[0],
        tuple(map(str, range(10))),
    ).to(device)
    cfg = TrainConfig(
        model=model_name,
        batch_size=batch,
        channels_last=channels_last,
        amp=amp,
        compile=compile_,
        epochs=1,
        sync_every=10_000,
        checkpoint_every=0,
    )
    model = create(model_name, num_classes=10, in_channels=shape[0], input_size=shape[1:]).to(device)
    model = model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    opt = build_optimizer(model, cfg)
    sched = build_schedule(opt, cfg, data.num_batches(batch))
    run = torch.compile(model) if compile_ else model
    scaler = torch.amp.GradScaler("cuda") if amp == "fp16" and device.type == "cuda" else None
    warm = data.subset(slice(0, 2 * batch))
    g = torch.Generator().manual_seed(0)
    state = EpochState(torch.arange(len(warm)))
    train_one_epoch(run, opt, sched, epoch_batches(warm, cfg, state, g), cfg, state, scaler=scaler)
    timed = data.subset(slice(2 * batch, n))
    state = EpochState(torch.arange(len(timed)))
    state = train_one_epoch(run, opt, sched, epoch_batches(timed, cfg, state, g), cfg, state, scaler=scaler)
    return len(timed) / state.seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args()
    device = common.device_or_exit(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    rows = []
    for model_name, shape, batch, cpu_steps, gpu_steps in CASES:
        steps = gpu_steps if device.type == "cuda" else cpu_steps
        base = None
        for label, cl, amp, comp in options(device, args.compile):
            try:
                ips = measure(model_name, shape, batch, steps, device, cl, amp, comp)
            except Exception as e:  # an option this device cannot run: report it
                rows.append(
                    {
                        "model": model_name,
                        "option": label,
                        "images_per_second": None,
                        "note": str(e).splitlines()[0][:80],
                    }
                )
                continue
            base = base or ips
            rows.append(
                {
                    "model": model_name,
                    "input": "×".join(map(str, shape)),
                    "batch": batch,
                    "option": label,
                    "images_per_second": ips,
                    "speedup": ips / base,
                }
            )
            print(f"{model_name:15} {label:30} {ips:10.1f} img/s", flush=True)
    print()
    common.print_table(
        rows,
        [
            ("model", "model", ""),
            ("input", "input", ""),
            ("batch", "batch", "d"),
            ("option", "option", ""),
            ("images_per_second", "train img/s", ",.1f"),
            ("speedup", "× fp32", ".2f"),
            ("note", "note", ""),
        ],
    )
    common.write_json(f"throughput_{device.type}", {"device": str(device), "rows": rows}, args.out)


if __name__ == "__main__":
    main()
