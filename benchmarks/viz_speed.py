"""Feature-visualization speed: cnnlab's render loop against an equivalent plain-PyTorch loop.

512 steps of channel visualization (ResNet-18, random weights, layer3 channel 7) at 128×128,
in the same run: cnnlab's ``render`` (Fourier parameterization, transformation robustness,
hooks), a plain loop doing the same work by hand, and the bare forward + backward passes
(what any loop must pay). Reports steps/s; the target is that cnnlab's loop costs nothing
beyond the passes themselves.

    python benchmarks/viz_speed.py [--steps 512] [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

import common
from cnnlab.models import create
from cnnlab.viz import objectives
from cnnlab.viz.param import make_param
from cnnlab.viz.render import RenderConfig, frozen, render
from cnnlab.viz.transforms import standard

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def plain_loop(model, steps: int, size: int, device) -> float:
    """What one would write by hand: the same parameterization, transforms and objective."""
    param = make_param("fourier", (1, 3, size, size), 0, device)
    opt = torch.optim.Adam(param.parameters(), lr=0.05)
    transform = standard(size)
    g = torch.Generator().manual_seed(0)
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1)
    store = {}
    handle = model.layer3.register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
    start = time.perf_counter()
    for _ in range(steps):
        x = transform(param.image(), g)
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        model((x - mean) / std)
        loss = -store["a"][:, 7].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    handle.remove()
    return time.perf_counter() - start


def passes_only(model, steps: int, size: int, device) -> float:
    x = torch.randn(1, 3, size, size, device=device, requires_grad=True)
    start = time.perf_counter()
    for _ in range(steps):
        model(x)[:, 0].sum().backward()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=512)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out")
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = create("resnet18").to(device)
    rows = []
    with frozen(model):
        passes_only(model, 3, args.size, device)  # warm-up
        t_pass = passes_only(model, args.steps, args.size, device)
        t_plain = plain_loop(model, args.steps, args.size, device)
    result = render(
        model,
        objectives.channel("layer3", 7),
        (3, args.size, args.size),
        MEAN,
        STD,
        RenderConfig(steps=args.steps, snapshots=(0, args.steps)),
    )
    t_ours = result.seconds
    for name, t in (("forward + backward only", t_pass), ("plain PyTorch loop", t_plain), ("cnnlab render", t_ours)):
        rows.append({"loop": name, "seconds": t, "steps_per_second": args.steps / t, "relative_to_passes": t / t_pass})
    print(f"ResNet-18, layer3 channel 7, {args.size}×{args.size}, {args.steps} steps on {device}\n")
    common.print_table(
        rows,
        [
            ("loop", "loop", ""),
            ("seconds", "seconds", ".1f"),
            ("steps_per_second", "steps/s", ".2f"),
            ("relative_to_passes", "× passes", ".2f"),
        ],
    )
    verdict = {
        "cnnlab_over_plain": t_ours / t_plain,
        "cnnlab_over_passes": t_ours / t_pass,
        "objective_start": result.start_value,
        "objective_end": result.end_value,
    }
    print("\n" + ", ".join(f"{k}: {v:.3f}" for k, v in verdict.items()))
    common.write_json(
        f"viz_speed_{device.type}",
        {"device": str(device), "steps": args.steps, "size": args.size, "rows": rows, "verdict": verdict},
        args.out,
    )


if __name__ == "__main__":
    main()
