"""The model zoo's accuracy targets (issue 4), on this machine's CPU, with the default recipes.

mnist-fast    MNIST ≥ 99.0% with ≤ 8 s of training              (3 seeds)
lenet5-1998   MNIST ≥ 99.05% (the paper's 0.95% test error)
mnist-best    MNIST ≥ 99.7% mean over 3 seeds, each within 15 minutes of training (one model, no
              ensemble; issue 19; issue 4 asked ≥ 99.6% of one seed)
fashion-best  Fashion-MNIST ≥ 93.5% within 15 minutes          (2 seeds)

python benchmarks/mnist_models.py                   # all (~50 min on 2 cores)
python benchmarks/mnist_models.py --only mnist-fast
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import common  # noqa: F401
from cnnlab.train.run import config_for, run_training
from cnnlab.train.run_dir import RunDir

# (name, model, dataset, seeds, min accuracy, max train seconds, recipe changes); the accuracy is
# every seed's, except for the targets in MEAN_TARGETS, where it is the seeds' mean
MEAN_TARGETS = {"mnist-best"}
TARGETS = [
    ("mnist-fast", "mnist-fast", "mnist", [0, 1, 2], 0.990, 8.0, {}),
    ("lenet5-1998", "lenet5-1998", "mnist", [0], 0.9905, None, {}),
    ("mnist-best", "mnist-best", "mnist", [0, 1, 2], 0.997, 900.0, {"compile": True}),
    # Fashion-MNIST: mnist-best's global average pool throws away *where* a feature is, which
    # tells a shirt from a T-shirt; fashion-best keeps the 7×7 map (flattening head) and trains
    # with ±2 px shifts, mirror flips and random erasing, compiled (compile time counted).
    # Earlier tries with mnist-best, all short of 93.5%: shifts 20 ep 93.35% (500 s); shifts +
    # flips 26 ep 93.41% (664 s), 30 ep 93.36% (899 s); flips 30 ep 93.25% (911 s); 1.25× wider
    # 22 ep 93.28% (865 s); shifts + flips + erasing, compiled, 30 ep 93.39% (736 s)
    ("fashion", "fashion-best", "fashion-mnist", [0, 1], 0.935, 900.0, {"compile": True}),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", choices=[t[0] for t in TARGETS])
    ap.add_argument("--out")
    args = ap.parse_args()
    rows = []
    for label, model, dataset, seeds, min_acc, max_s, changes in TARGETS:
        if args.only and label not in args.only:
            continue
        for seed in seeds:
            tmp = Path(tempfile.mkdtemp(prefix="cnnlab-zoo-"))
            cfg = config_for(model, dataset=dataset, seed=seed, device="cpu", **changes)
            print(f"{model} on {dataset}, seed {seed}: {cfg.epochs} epochs", flush=True)
            summary = run_training(cfg, out=tmp / "run", quiet=True, echo=lambda s: print("  " + s, flush=True))
            metrics = RunDir(tmp / "run").read_metrics()
            shutil.rmtree(tmp)
            in_time = max_s is None or summary["train_seconds"] <= max_s
            ok = in_time and (label in MEAN_TARGETS or summary["test_accuracy"] >= min_acc)
            rows.append(
                {
                    "target": label,
                    "model": model,
                    "dataset": dataset,
                    "seed": seed,
                    "epochs": summary["epochs"],
                    "params": summary["params"],
                    "test_accuracy": summary["test_accuracy"],
                    "accuracy": 100 * summary["test_accuracy"],
                    "train_seconds": summary["train_seconds"],
                    "best_epoch_accuracy": max(m["test_accuracy"] for m in metrics),
                    "goal": f">= {100 * min_acc:.2f}%"
                    + (" (mean)" if label in MEAN_TARGETS else "")
                    + (f", <= {max_s:g} s" if max_s else ""),
                    "in_time": in_time,
                    "cpu": common.machine()["cpu"],  # rows of earlier runs may come from another machine
                    "met": ok,  # a mean target's rows get the mean's verdict below
                    "config": cfg.to_dict(),
                }
            )
    previous = common.RESULTS / "mnist_models.json"
    if args.only and not args.out and previous.exists():  # keep the other targets' last results
        done = {r["target"] for r in rows}
        rows = [r for r in json.loads(previous.read_text())["rows"] if r["target"] not in done] + rows
        for r in rows:  # results written before the "in time" column
            r.setdefault("in_time", r["met"])
        rows.sort(key=lambda r: [t[0] for t in TARGETS].index(r["target"]))
    ran = {r["target"] for r in rows} if not args.only else set(args.only)
    means, lines = {}, []
    for label, _, _, _, min_acc, _, _ in TARGETS:
        mine = [r for r in rows if r["target"] == label]
        if label in MEAN_TARGETS and mine:
            mean = sum(r["test_accuracy"] for r in mine) / len(mine)
            means[label] = {
                "mean_accuracy": mean,
                "target": min_acc,
                "met": mean >= min_acc and all(r.get("in_time", r["met"]) for r in mine),
            }
            for r in mine:  # each seed's row says whether the target (a mean) is met, not only its time
                r["met"] = means[label]["met"]
            lines.append(
                f"{label}: mean test accuracy {100 * mean:.3f}% over {len(mine)} seeds (target >= {100 * min_acc:.2f}%): "
                + ("met" if means[label]["met"] else "NOT met")
            )
    print()
    common.print_table(
        [r for r in rows if r["target"] in ran],
        [
            ("target", "target", ""),
            ("model", "model", ""),
            ("dataset", "dataset", ""),
            ("seed", "seed", "d"),
            ("epochs", "epochs", "d"),
            ("params", "params", ","),
            ("accuracy", "test acc %", ".2f"),
            ("train_seconds", "train s", ".1f"),
            ("goal", "goal", ""),
            ("in_time", "in time", ""),
            ("met", "met", ""),
        ],
    )
    print("\n".join(lines))
    met = all(r["met"] for r in rows if r["target"] not in MEAN_TARGETS) and all(m["met"] for m in means.values())
    common.write_json("mnist_models", {"rows": rows, "means": means, "all_met": met}, args.out)


if __name__ == "__main__":
    main()
