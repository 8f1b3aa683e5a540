"""Do class visualizations look like their class? (issue 13, point 2), and what each image
prior contributes, in one run.

On the default trained LeNet-5 (`cnnlab train`), each class logit is maximized from faint
noise (2048 steps, the lecture's last snapshot). For the final image of class k:

* nearest mean: is its Pearson correlation with class k's mean training image the highest of
  the ten class means? (target: 8 of 10)
* judge: does an independently trained `mnist-fast` (another seed) classify it as k? (target: 9 of 10)

and for the step-0 image: its pixel standard deviation (target ≤ 0.1) and how often its nearest
class mean is its own (chance; target ≤ 3 of 10). The same is measured with each prior taken
away, to show what it contributes.

    python benchmarks/viz_likeness.py [--lenet RUN_DIR] [--judge RUN_DIR] [--steps 2048]

Without --lenet/--judge the two runs are trained first (about a minute on 2 cores). Writes
benchmarks/results/viz_likeness.json.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace

import numpy as np
import torch

import common
from cnnlab.data import load_dataset
from cnnlab.viz import objectives
from cnnlab.viz.render import RenderConfig, render
from cnnlab.viz.source import load_subject

VARIANTS = {  # name -> changes to RenderConfig(), and to the small-image transforms
    "all priors (the defaults)": {},
    "no blur": {"blur_every": 0},
    "no decay": {"decay": 0.0},
    "Lucid's transforms scaled to 28 px": {"small_transforms": False},
    "no priors (transforms only, scaled Lucid)": {"decay": 0.0, "blur_every": 0, "small_transforms": False},
    # the priors that are off by default, each added to the defaults
    "+ total variation (weight 1)": {},
    "+ α-norm (α = 6, weight 30)": {},
    "+ norm clipping (lowest 50% of pixels, every 4 steps)": {"clip_norm": 0.5},
    "+ contribution clipping (lowest 50%, every 4 steps)": {"clip_contribution": 0.5},
}
PENALTIES = {  # name -> a term subtracted from the objective, given the data mean (Mahendran & Vedaldi 2015)
    "+ total variation (weight 1)": lambda mean: 1.0 * objectives.total_variation(),
    "+ α-norm (α = 6, weight 30)": lambda mean: 30.0 * objectives.alpha_norm(6.0, mean),
}


def train(tmp: str, *args: str) -> str:
    from cnnlab.cli import main as cli

    out = f"{tmp}/{args[1] if len(args) > 1 else 'lenet5'}"
    if cli(["train", *args, "--out", out, "--quiet"]) != 0:
        raise SystemExit(f"training {args} failed")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lenet", help="a run folder of `cnnlab train` (default LeNet-5) [train one]")
    ap.add_argument("--judge", help="a run folder of `cnnlab train --model mnist-fast --seed 1` [train one]")
    ap.add_argument("--steps", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", help="comma-separated variant numbers (0 = the defaults) [all]")
    ap.add_argument("--name", default="viz_likeness", help="JSON file name under benchmarks/results/")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="cnnlab-likeness-")
    lenet = args.lenet or train(tmp)
    judge_dir = args.judge or train(tmp, "--model", "mnist-fast", "--seed", "1")
    s = load_subject(lenet)
    judged_by = load_subject(judge_dir)
    judge = judged_by.model.eval()
    train_set, _ = load_dataset("mnist", quiet=True)
    imgs = train_set.images[:, 0].float() / 255
    means = torch.stack([imgs[train_set.labels == k].mean(0) for k in range(10)]).numpy().reshape(10, -1)

    def nearest(img: np.ndarray) -> int:
        return int(np.argmax([np.corrcoef(img.ravel(), m)[0, 1] for m in means]))

    rows = []
    chosen = [int(v) for v in args.only.split(",")] if args.only else range(len(VARIANTS))
    for name, change in (list(VARIANTS.items())[i] for i in chosen):
        cfg = replace(RenderConfig(steps=args.steps, snapshots=(0, args.steps), batch=10, seed=args.seed), **change)
        objective = objectives.class_logits(list(range(10)))
        if name in PENALTIES:
            objective = objective - PENALTIES[name](s.mean[0])
        res = render(s.model, objective, s.input_shape, s.mean, s.std, cfg)
        start, final = res.snapshots[0][:, 0], res.final[:, 0]
        x = torch.tensor((final - judged_by.mean[0]) / judged_by.std[0]).float()[:, None]  # the judge's own input
        with torch.no_grad():
            judged = judge(x).argmax(1).tolist()
            mine = s.model(torch.tensor((final - s.mean[0]) / s.std[0]).float()[:, None])  # (10, 10)
            own_logit = float(mine.diagonal().mean())
        row = {
            "variant": name,
            "nearest_own": sum(nearest(final[k]) == k for k in range(10)),
            "judge_agrees": sum(judged[k] == k for k in range(10)),
            "start_nearest_own": sum(nearest(start[k]) == k for k in range(10)),
            "start_std": float(start.std(axis=(1, 2)).max()),
            "saturated_final": float(((final < 0.01) | (final > 0.99)).mean()),
            "logit_final": own_logit,  # the class's logit on its final image (no penalty)
        }
        rows.append(row)
        print(row)
    common.print_table(
        rows,
        [
            ("variant", "variant", ""),
            ("nearest_own", "nearest mean is own /10", ""),
            ("judge_agrees", "mnist-fast agrees /10", ""),
            ("start_nearest_own", "step 0: own /10", ""),
            ("start_std", "step 0: pixel sd", ".4f"),
            ("saturated_final", "saturated", ".1%"),
            ("logit_final", "mean logit", ".2f"),
        ],
    )
    d = next((r for r in rows if r["variant"] == "all priors (the defaults)"), None)
    if d is None:  # --only without the defaults: nothing to check the targets on
        common.print_table(rows, [("variant", "variant", "")])
        common.write_json(args.name, {"steps": args.steps, "seed": args.seed, "rows": rows})
        return
    targets = {
        "nearest_own_ge_8": d["nearest_own"] >= 8,
        "judge_ge_9": d["judge_agrees"] >= 9,
        "start_std_le_0.1": d["start_std"] <= 0.1,
        "start_nearest_own_le_3": d["start_nearest_own"] <= 3,
    }
    print("targets:", targets)
    common.write_json(args.name, {"steps": args.steps, "seed": args.seed, "rows": rows, "targets": targets})


if __name__ == "__main__":
    main()
