"""Feature-visualization quality and speed, cnnlab against Lucent, in one run (issue 13).

For the same model (ResNet-18, random weights, seed 0), objective (``layer3`` channel 7),
image size (128×128 and 224×224, the model sees that size in both libraries) and steps,
prints for each library, at every snapshot step:

* saturation: the share of pixel values within 0.01 of 0 or 1 (clipped: detail lost);
* roughness: the mean absolute difference between neighbouring pixels (high-frequency noise);
* the objective value reached, evaluated the same way for both (the channel's mean
  activation on the image itself, no transforms);
* optimization steps per second.

Lucent is not a dependency of cnnlab. This script installs nothing; run it where
torch-lucent is importable::

    pip install torch-lucent        # the only extra step (it brings kornia 0.4.1)
    python benchmarks/viz_quality.py [--steps 2048] [--sizes 128,224] [--device cpu]

Writes ``benchmarks/results/viz_quality.json`` (``--speed-only``: ``viz_quality_speed.json``;
``--name`` another). Targets: at every snapshot, saturation ≤ 2% and roughness ≤ 1.5× Lucent's
at the same step; at 512 steps an objective ≥ Lucent's, at ≥ 1.5× Lucent's steps/s.
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np
import torch

import common
from cnnlab.models import create
from cnnlab.viz import objectives
from cnnlab.viz.render import RenderConfig, render

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
LAYER, CHANNEL = "layer3", 7


def saturation(img: np.ndarray) -> float:
    return float(((img < 0.01) | (img > 0.99)).mean())


def roughness(img: np.ndarray) -> float:
    """Mean |neighbour difference| over both axes of (..., H, W) images in [0, 1]."""
    dy = np.abs(np.diff(img, axis=-2)).mean()
    dx = np.abs(np.diff(img, axis=-1)).mean()
    return float((dx + dy) / 2)


def objective_value(model, img: np.ndarray, device) -> float:
    """The channel's mean activation on the image itself (no transforms), the same for both."""
    store = {}
    handle = getattr(model, LAYER).register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
    x = torch.as_tensor(img, device=device).float()
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1)
    with torch.no_grad():
        model((x - mean) / std)
    handle.remove()
    return float(store["a"][:, CHANNEL].mean())


def run_cnnlab(model, size: int, steps: int, snaps: list[int], device) -> dict:
    cfg = RenderConfig(steps=steps, snapshots=tuple(snaps), seed=0)
    start = time.perf_counter()  # the whole call, set-up included, as for Lucent
    res = render(model, objectives.channel(LAYER, CHANNEL), (3, size, size), MEAN, STD, cfg)
    return {"images": {s: res.snapshots[s] for s in snaps}, "seconds": time.perf_counter() - start}


def run_lucent(model, size: int, steps: int, snaps: list[int], device) -> dict:
    from lucent.optvis import param, render

    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    params, image_f = param.image(size)
    images = {0: image_f().detach().cpu().numpy()}
    later = [s for s in snaps if s > 0]
    start = time.perf_counter()
    out = render.render_vis(
        model,
        f"{LAYER}:{CHANNEL}",
        param_f=lambda: (params, image_f),
        thresholds=tuple(later),
        progress=False,
        show_image=False,
        fixed_image_size=size,  # the model sees the same size as cnnlab's (Lucent's default upsamples to 224)
    )
    seconds = time.perf_counter() - start
    for s, img in zip(later, out):
        images[s] = img.transpose(0, 3, 1, 2)
    return {"images": images, "seconds": seconds}


def interleaved_speed(model, size: int, device, rounds: int = 5, steps: int = 24) -> dict:
    """Steps/s of each library, timed in alternation (cnnlab, Lucent, cnnlab, ...) so that both
    see the same machine load: the median of ``rounds`` short runs each."""
    got = {"cnnlab": [], "lucent": []}
    for _ in range(rounds):
        for name, fn in (("cnnlab", run_cnnlab), ("lucent", run_lucent)):
            got[name].append(steps / fn(model, size, steps, [0, steps], device)["seconds"])
    med = {k: float(np.median(v)) for k, v in got.items()}
    ratios = [c / lu for c, lu in zip(got["cnnlab"], got["lucent"])]
    return {**med, "ratio": float(np.median(ratios)), "runs": got}


def save_side_by_side(got: dict, snaps: list[int], size: int) -> None:
    """One PNG per size: a row per library, a column per snapshot step, to look at."""
    from cnnlab.viz.figures import new_figure, save

    fig = new_figure(figsize=(2.1 * len(snaps), 2.3 * len(got)))
    axes = fig.subplots(len(got), len(snaps), squeeze=False)
    for r, (name, res) in enumerate(got.items()):
        for j, s in enumerate(snaps):
            ax = axes[r, j]
            ax.imshow(res["images"][s][0].transpose(1, 2, 0).clip(0, 1))
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{name}, step {s}", fontsize=8)
    fig.suptitle(f"ResNet-18 (random) {LAYER}:{CHANNEL}, {size}×{size}", fontsize=9)
    fig.tight_layout()
    save(fig, common.RESULTS / f"viz_quality_{size}.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=2048)
    ap.add_argument("--sizes", default="128,224")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--only", choices=["cnnlab", "lucent"], default=None)
    ap.add_argument("--name", help="JSON file name under benchmarks/results/ [viz_quality, viz_quality_speed]")
    ap.add_argument("--speed-only", action="store_true", help="only the interleaved steps/s of both libraries")
    args = ap.parse_args()
    args.name = args.name or ("viz_quality_speed" if args.speed_only else "viz_quality")  # never one over the other
    device = torch.device(args.device)
    snaps = sorted({s for s in (0, 4, 48, 512, 2048) if s <= args.steps} | {args.steps})
    torch.manual_seed(0)
    model = create("resnet18").to(device).eval()
    runners = {"cnnlab": run_cnnlab, "lucent": run_lucent}
    if args.only:
        runners = {args.only: runners[args.only]}
    rows, results = [], []
    if args.speed_only:
        for size in (int(v) for v in args.sizes.split(",")):
            speed = interleaved_speed(model, size, device)
            print(
                f"{size}×{size}: cnnlab {speed['cnnlab']:.2f} steps/s, Lucent {speed['lucent']:.2f}, ratio {speed['ratio']:.2f}"
            )
            results.append({"size": size, "interleaved_speed": speed})
        common.write_json(
            args.name, {"model": "resnet18 (random, seed 0)", "objective": f"{LAYER}:{CHANNEL}", "speed": results}
        )
        return
    for size in (int(s) for s in args.sizes.split(",")):
        got = {}
        for name, fn in runners.items():
            got[name] = fn(model, size, args.steps, snaps, device)
            print(  # as soon as it is known: a long run can be stopped early
                f"{size}×{size} {name}: saturated "
                + ", ".join(f"{s}: {saturation(got[name]['images'][s]):.2%}" for s in snaps)
                + f"; objective at {args.steps}: {objective_value(model, got[name]['images'][args.steps], device):.3f}",
                flush=True,
            )
        for name, r in got.items():
            for s in snaps:
                img = r["images"][s]
                row = {
                    "size": size,
                    "library": name,
                    "step": s,
                    "saturation": saturation(img),
                    "roughness": roughness(img),
                    "objective": objective_value(model, img, device),
                    "steps_per_s": args.steps / r["seconds"],
                }
                rows.append(row)
        if len(got) == 2:
            speed = interleaved_speed(model, size, device)
            results.append({"size": size, "interleaved_speed": speed})
            for s in snaps:
                c = next(r for r in rows if r["size"] == size and r["library"] == "cnnlab" and r["step"] == s)
                lu = next(r for r in rows if r["size"] == size and r["library"] == "lucent" and r["step"] == s)
                c["roughness_vs_lucent"] = c["roughness"] / max(lu["roughness"], 1e-12)
                c["objective_vs_lucent"] = c["objective"] - lu["objective"]
                c["speed_vs_lucent"] = speed["ratio"]  # timed in alternation, not the long runs
        results.append({"size": size, "snapshots": snaps})
        save_side_by_side(got, snaps, size)
    common.print_table(
        rows,
        [
            ("size", "size", ""),
            ("library", "library", ""),
            ("step", "step", ""),
            ("saturation", "saturated", ".2%"),
            ("roughness", "roughness", ".4f"),
            ("roughness_vs_lucent", "× Lucent", ".2f"),
            ("objective", "objective", ".3f"),
            ("objective_vs_lucent", "− Lucent", "+.3f"),
            ("steps_per_s", "steps/s", ".1f"),
            ("speed_vs_lucent", "speed × Lucent (interleaved)", ".2f"),
        ],
    )
    cn = [r for r in rows if r["library"] == "cnnlab"]
    both = len(runners) == 2  # the comparisons need both libraries; otherwise "not measured"
    targets = {
        "saturation_max_2pct": all(r["saturation"] <= 0.02 for r in cn),
        "roughness_max_1.5x_lucent": all(r["roughness_vs_lucent"] <= 1.5 for r in cn) if both else None,
        "objective_at_512_ge_lucent": all(r["objective_vs_lucent"] >= 0 for r in cn if r["step"] == 512)
        if both
        else None,
        "speed_ge_1.5x_lucent": all(r["speed_vs_lucent"] >= 1.5 for r in cn) if both else None,
    }
    print("targets:", targets)
    common.write_json(
        args.name,
        {
            "model": "resnet18 (random, seed 0)",
            "objective": f"{LAYER}:{CHANNEL}",
            "steps": args.steps,
            "rows": rows,
            "speed": results,
            "targets": targets,
        },
    )


if __name__ == "__main__":
    main()
