"""MNIST speed race: cnnlab's LeNet-5 recipe against the familiar plain-PyTorch recipe.

The baseline follows pytorch/examples `mnist/main.py`: two 3×3 convs (32, 64 filters),
max-pool, dropout, FC 9216→128→10, Adadelta lr 1.0, batch 64, StepLR γ 0.7, a DataLoader
over torchvision's MNIST Dataset (PIL image -> ToTensor -> Normalize per item).

Both are timed in the same process on the same machine; "train s" excludes evaluation,
"time to 99.0%" is the training time until the first epoch-end test accuracy ≥ 99.0%.

    python benchmarks/mnist_speed.py                  # 3 cnnlab seeds + 3 baseline epochs (~5 min on 2 cores)
    python benchmarks/mnist_speed.py --baseline-epochs 1 --seeds 0
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import common  # noqa: F401  (puts src/ on the path)
from cnnlab.data.idx_datasets import BUNDLED, MNIST
from cnnlab.train.run import config_for, run_training

TARGET = 0.99


# ---------------------------------------------------------------- the plain-PyTorch baseline
class ExamplesNet(nn.Module):  # pytorch/examples mnist/main.py, verbatim in structure
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))  # (N, 32, 26, 26)
        x = F.relu(self.conv2(x))  # (N, 64, 24, 24)
        x = F.max_pool2d(x, 2)  # (N, 64, 12, 12)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)  # (N, 9216)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)


def torchvision_mnist_root() -> Path:
    """A temporary root laid out as torchvision.datasets.MNIST expects (MNIST/raw/, gunzipped)."""
    root = Path(tempfile.mkdtemp(prefix="mnist-tv-"))
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in MNIST.files:
        with gzip.open(BUNDLED / "mnist" / f.name) as src, open(raw / f.name.removesuffix(".gz"), "wb") as dst:
            shutil.copyfileobj(src, dst)
    return root


def run_baseline(epochs: int, seed: int) -> dict:
    from torchvision import datasets, transforms

    torch.manual_seed(seed)
    root = torchvision_mnist_root()
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train_loader = torch.utils.data.DataLoader(
        datasets.MNIST(root, train=True, transform=transform), batch_size=64, shuffle=True
    )
    test_loader = torch.utils.data.DataLoader(datasets.MNIST(root, train=False, transform=transform), batch_size=1000)
    model = ExamplesNet()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    accs, seconds, train_s = [], [], 0.0
    for _ in range(epochs):
        model.train()
        t = time.perf_counter()
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = F.nll_loss(model(x), y)
            loss.backward()
            optimizer.step()
        train_s += time.perf_counter() - t
        seconds.append(train_s)
        scheduler.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in test_loader:
                correct += (model(x).argmax(1) == y).sum().item()
        accs.append(correct / 10000)
        print(f"  baseline epoch {len(accs)}: test acc {100 * accs[-1]:.2f}%  ({train_s:.1f} s cumulative)", flush=True)
    shutil.rmtree(root)
    return summarize("pytorch/examples recipe", sum(p.numel() for p in model.parameters()), accs, seconds, 64, seed)


def summarize(name, params, accs, seconds, batch, seed) -> dict:
    reached = next((s for a, s in zip(accs, seconds) if a >= TARGET), None)
    return {
        "recipe": name,
        "seed": seed,
        "params": params,
        "epochs": len(accs),
        "batch_size": batch,
        "images_per_second": 60000 * len(accs) / seconds[-1],
        "seconds_per_epoch": seconds[-1] / len(accs),
        "train_seconds": seconds[-1],
        "final_accuracy": accs[-1],
        "accuracy_per_epoch": accs,
        "time_to_99": reached,
        "time_to_99_text": f"{reached:.1f}" if reached is not None else "not reached",
    }


def run_cnnlab(seed: int) -> dict:
    cfg = config_for("lenet5", seed=seed, device="cpu")
    out = Path(tempfile.mkdtemp(prefix="cnnlab-bench-")) / "run"
    summary = run_training(cfg, out=out, quiet=True, echo=lambda s: print("  " + s, flush=True))
    from cnnlab.train.run_dir import RunDir

    rows = RunDir(out).read_metrics()
    shutil.rmtree(out.parent)
    return summarize(
        "cnnlab lenet5 (default)",
        summary["params"],
        [r["test_accuracy"] for r in rows],
        [r["train_seconds"] for r in rows],
        cfg.batch_size,
        seed,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--baseline-epochs", type=int, default=3)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--out", help="JSON path [benchmarks/results/mnist_speed.json]")
    args = ap.parse_args()

    rows = []
    for seed in args.seeds:
        print(f"cnnlab lenet5, seed {seed}", flush=True)
        rows.append(run_cnnlab(seed))
    if not args.no_baseline:
        print(f"plain PyTorch (pytorch/examples), {args.baseline_epochs} epochs", flush=True)
        rows.append(run_baseline(args.baseline_epochs, seed=1))

    print()
    for r in rows:
        r["accuracy"] = 100 * r["final_accuracy"]
    common.print_table(
        rows,
        [
            ("recipe", "recipe", ""),
            ("seed", "seed", "d"),
            ("params", "params", ","),
            ("epochs", "epochs", "d"),
            ("images_per_second", "train img/s", ",.0f"),
            ("seconds_per_epoch", "s/epoch", ".1f"),
            ("train_seconds", "train s", ".1f"),
            ("accuracy", "test acc %", ".2f"),
            ("time_to_99_text", "time to 99.0% (s)", ""),
        ],
    )
    ours = [r for r in rows if r["recipe"].startswith("cnnlab")]
    verdict = {
        "all_seeds_reach_99": all(r["final_accuracy"] >= TARGET for r in ours),
        "max_train_seconds": max(r["train_seconds"] for r in ours),
        "target": "each seed >= 99.0% test accuracy with <= 25 s of training",
    }
    verdict["met"] = verdict["all_seeds_reach_99"] and verdict["max_train_seconds"] <= 25
    base = [r for r in rows if not r["recipe"].startswith("cnnlab")]
    if base:
        b = base[0]
        verdict["speedup_images_per_second"] = min(r["images_per_second"] for r in ours) / b["images_per_second"]
        if b["time_to_99"]:
            verdict["speedup_time_to_99"] = b["time_to_99"] / max(r["time_to_99"] for r in ours)
    print("\n" + ", ".join(f"{k}: {v:.2f}" if isinstance(v, float) else f"{k}: {v}" for k, v in verdict.items()))
    common.write_json("mnist_speed", {"rows": rows, "verdict": verdict}, args.out)


if __name__ == "__main__":
    main()
