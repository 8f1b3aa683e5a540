"""MNIST speed race (issue 19): seconds of training to 98.9% and to 99.0% test accuracy.

Races, in one process, on the same data:

* ``mnist-race`` with its recipe (``cnnlab train --model mnist-race``), seeds 0-4: the 99.0% race;
* the same model and recipe on a shorter one-cycle schedule (``--short-epochs``, 1.25 epochs by
  default), seeds 0-4: the 98.9% race (the lecture's figure);
* cnnlab's ``lenet5`` with its recipe (5 epochs), seeds 0-2;
* the pytorch/examples ``mnist/main.py`` recipe, run unchanged: two 3×3 convs (32, 64),
  max-pool, dropout, FC 9216→128→10, Adadelta lr 1.0, batch 64, StepLR γ 0.7, a DataLoader
  over torchvision's MNIST Dataset (PIL image → ToTensor → Normalize per item).

Every run is evaluated on the test set at fixed reporting points, every quarter epoch, and only
there; "time to X" is the training time (evaluation excluded) up to the first reporting point
whose test accuracy is ≥ X. The cnnlab runs use the library's own ``train_one_epoch`` and
``evaluate`` (the schedule, seeds and shuffling of ``cnnlab train``; at whole epochs the runs are
the same run), after an untimed warm-up of 10 steps per model that builds oneDNN's kernels.

mnist-race's recipe and both schedules were chosen on a held-out split (train on the first
50,000 training images, validate on the last 10,000), never on the test set: ``--heldout`` runs
exactly this script that way, ``--recipe KEY=VALUE`` tries another recipe, and
benchmarks/results/mnist_race_heldout.json keeps the sweeps behind the choice.

    python benchmarks/mnist_speed.py                 # the whole race (minutes; the baseline alone takes 2-6)
    python benchmarks/mnist_speed.py --quick         # a smoke run (~30 s): 1 seed, short runs
    python benchmarks/mnist_speed.py --device cuda --no-baseline   # the GPU race (writes mnist_speed_cuda.json)
    python benchmarks/mnist_speed.py --heldout --no-baseline --no-lenet   # the recipe's held-out check
    python benchmarks/mnist_speed.py --heldout --no-baseline --no-lenet --recipe lr=1e-2 cycle_momentum=true
    python benchmarks/mnist_speed.py --heldout --no-baseline --no-lenet --model-arg batch_norm=false   # *_batch_norm-false.json
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import itertools
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import common  # noqa: F401  (puts src/ on the path)
from cnnlab.data.idx_datasets import BUNDLED, MNIST
from cnnlab.errors import CnnlabError
from cnnlab.models import create
from cnnlab.runs.config import TrainConfig
from cnnlab.train.ema import MovingAverage
from cnnlab.train.loop import EpochState, epoch_batches, evaluate, train_one_epoch
from cnnlab.train.optim import build_optimizer, build_schedule
from cnnlab.train.run import config_for, load_data

TARGETS = (0.989, 0.990)
RACE_MODEL = "mnist-race"
LIMITS = {"99.0": 4.0, "98.9": 2.0}  # seconds of training each seed may take on the 2-core CPU (issue 19)
GPU_LIMITS = {"99.0": 0.5, "98.9": 0.5}  # on a GPU (issue 19 part 4: 99.0% in < 0.5 s; 98.9% no later)
BASELINE_SPEEDUP = 30.0  # the race must reach the baseline's best accuracy this many times sooner


def time_to(curve: list[dict[str, float]], target: float) -> float | None:
    """Training seconds at the first reporting point with accuracy ≥ ``target`` (None: never)."""
    return next((p["seconds"] for p in curve if p["accuracy"] >= target), None)


def summarize(
    recipe: str, seed: int, params: int, epochs: float, batch: int, curve: list[dict], images: int = 60000
) -> dict[str, Any]:
    last = curve[-1]
    row: dict[str, Any] = {
        "recipe": recipe,
        "seed": seed,
        "params": params,
        "epochs": epochs,
        "batch_size": batch,
        "train_seconds": last["seconds"],
        "train_cpu_seconds": last["cpu_seconds"],  # process CPU time: all threads, not wall
        "images_per_second": images * last["epoch"] / last["seconds"],
        "final_accuracy": last["accuracy"],
        "best_accuracy": max(p["accuracy"] for p in curve),
        "curve": curve,
    }
    for t in TARGETS:
        row[f"time_to_{100 * t:.1f}"] = time_to(curve, t)
    return row


# ---------------------------------------------------------------- cnnlab's models, with cnnlab's loop
def split(heldout: bool, model: str, device: str = "cpu"):
    """(train, evaluation set) on ``device``: the test set, or with ``heldout`` the last 10k of the training set."""
    train, test = load_data(config_for(model, device=device), torch.device(device), quiet=True)  # recipe-independent
    if heldout:
        return train.subset(slice(0, 50000)), train.subset(slice(50000, 60000))
    return train, test


def run_cnnlab(
    model: str,
    seed: int,
    epochs: float,
    data,
    every: float = 0.25,
    warmup_steps: int = 0,
    recipe: dict | None = None,
    model_args: dict | None = None,
) -> dict:
    """Train ``model`` with its recipe (``recipe`` overrides fields of it) over ``epochs`` (a
    fraction is a shorter one-cycle schedule), evaluating ``data``'s second set every ``every``
    epochs; ``warmup_steps``: only warm up. ``model_args``: keyword arguments for the model's
    builder (``batch_norm=False``: mnist-race without its batch norm)."""
    train, test = data
    device = str(train.images.device)  # the data's device: the GPU race keeps everything there
    cfg = config_for(model, **{**(recipe or {}), "seed": seed, "device": device, "epochs": max(1, math.ceil(epochs))})
    torch.manual_seed(cfg.seed)  # as cnnlab train does, in the same order
    generator = torch.Generator().manual_seed(cfg.seed)
    net = create(model, train.num_classes, train.shape[0], tuple(train.shape[1:]), **(model_args or {}))
    net = net.to(device).to(memory_format=torch.channels_last)  # pyright: ignore[reportCallIssue]
    per_epoch = train.num_batches(cfg.batch_size)
    total = warmup_steps or round(epochs * per_epoch)
    optimizer = build_optimizer(net, cfg)
    scheduler = build_schedule(optimizer, cfg, total)
    ema = MovingAverage(net, cfg.ema) if cfg.ema else None  # --recipe ema=DECAY: report the average
    # the reporting points, in steps: every `every` epochs and the schedule's end
    points = {min(total, round(k * every * per_epoch)) for k in range(1, math.ceil(total / (every * per_epoch)) + 1)}
    points = [total] if warmup_steps else sorted(points | {total})
    curve, seconds, cpu, step = [], 0.0, 0.0, 0
    while step < total:
        state = EpochState(torch.randperm(len(train), generator=generator))
        batches = epoch_batches(train, cfg, state, generator)
        for point in [p for p in points if step < p <= step + per_epoch]:  # this epoch's
            part = itertools.islice(batches, point - step)
            c = time.process_time()
            state = train_one_epoch(net, optimizer, scheduler, part, cfg, state, ema=ema)
            cpu += time.process_time() - c
            step = point
            if not warmup_steps:
                accuracy = evaluate(ema.module if ema else net, test, cfg)["accuracy"]
                epoch = round(step / per_epoch, 3)
                curve.append(
                    {"epoch": epoch, "seconds": seconds + state.seconds, "cpu_seconds": cpu, "accuracy": accuracy}
                )
        seconds += state.seconds
    if warmup_steps:
        return {}
    params = sum(p.numel() for p in net.parameters())
    return summarize(f"cnnlab {model} ({epochs:g} ep)", seed, params, epochs, cfg.batch_size, curve, len(train))


def crop_ink(train, sizes=(24, 22, 20)) -> dict[str, float]:
    """The fraction of the training images' ink (summed pixel values) inside each centre crop."""
    x = train.images.double()  # (N, 1, 28, 28)
    h = x.shape[-1]
    return {
        f"{s}x{s}": (x[..., (h - s) // 2 : (h + s) // 2, (h - s) // 2 : (h + s) // 2].sum() / x.sum()).item()
        for s in sizes
    }


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


def run_baseline(epochs: float, seed: int, every: float = 0.25) -> dict:
    """The pytorch/examples recipe, evaluated (untimed) at the same reporting points."""
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
    per_epoch = len(train_loader)
    total = round(epochs * per_epoch)
    marks = {round(k * every * per_epoch) for k in range(1, round(1 / every) + 1)}  # steps into an epoch
    curve, train_s, cpu, step = [], 0.0, 0.0, 0
    while step < total:
        model.train()
        t, c = time.perf_counter(), time.process_time()
        for i, (x, y) in enumerate(train_loader, 1):
            optimizer.zero_grad()
            loss = F.nll_loss(model(x), y)
            loss.backward()
            optimizer.step()
            step += 1
            if i in marks or step == total:
                train_s += time.perf_counter() - t
                cpu += time.process_time() - c
                model.eval()
                with torch.no_grad():
                    correct = sum((model(xt).argmax(1) == yt).sum().item() for xt, yt in test_loader)
                epoch = round(step / per_epoch, 3)
                curve.append({"epoch": epoch, "seconds": train_s, "cpu_seconds": cpu, "accuracy": correct / 10000})
                print(
                    f"  baseline at {curve[-1]['epoch']:g} epochs: {correct / 100:.2f}% ({train_s:.1f} s)", flush=True
                )
                model.train()
                t, c = time.perf_counter(), time.process_time()
            if step == total:
                break
        scheduler.step()
    shutil.rmtree(root)
    params = sum(p.numel() for p in model.parameters())
    return summarize("pytorch/examples recipe", seed, params, epochs, 64, curve)


# ---------------------------------------------------------------- main
def verdict(rows: list[dict], limits: dict[str, float] = LIMITS) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # (name, the rows' race, target): the 98.9% race on its short schedule, and 98.9% within the long runs
    for name, race, label in (
        ("race_99.0", "99.0", "99.0"),
        ("race_98.9", "98.9", "98.9"),
        ("98.9_in_the_99.0_runs", "99.0", "98.9"),
    ):
        mine = [r for r in rows if r.get("race") == race]
        if not mine:
            continue
        times = [r[f"time_to_{label}"] for r in mine]
        worst = None if None in times else max(times)
        out[name] = {
            "target": f"each seed >= {label}% test accuracy within {limits[label]:g} s of training",
            "schedule_epochs": mine[0]["epochs"],
            "seeds": [r["seed"] for r in mine],
            "seconds": times,
            "worst_seconds": worst,
            "met": worst is not None and worst <= limits[label],
        }
    base = next((r for r in rows if r["recipe"].startswith("pytorch")), None)
    race = [r for r in rows if r.get("race") == "99.0"]
    if base and race:
        # the target: the race reaches the baseline's best accuracy >= 30x sooner than the baseline
        # does, every seed; a seed that never reaches it fails it. The same ratio at 99.0% is given too.
        out["baseline"] = {"target": f">= {BASELINE_SPEEDUP:g}x sooner to the baseline's best, each seed"}
        for key, level in (("to_its_best", base["best_accuracy"]), ("to_99.0", 0.99)):
            base_s = time_to(base["curve"], level)
            ours = [time_to(r["curve"], level) for r in race]
            reached = [t for t in ours if t is not None]
            part: dict[str, Any] = {
                "accuracy": level,
                "baseline_seconds": base_s,
                "race_seconds": ours,  # per seed; None: that seed never reached it
                "seeds_reaching_it": f"{len(reached)} of {len(ours)}",
            }
            if base_s is not None and reached:
                part["speedup_worst_seed_reaching_it"] = base_s / max(reached)
            out["baseline"][key] = part
        best = out["baseline"]["to_its_best"]
        out["baseline"]["met"] = None not in best["race_seconds"] and (
            best.get("speedup_worst_seed_reaching_it", 0) >= BASELINE_SPEEDUP
        )
    return out


def recipe_override(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` for a TrainConfig field, the value parsed as the field's type."""
    key, _, value = text.partition("=")
    kinds = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    if key not in kinds or not value:
        raise argparse.ArgumentTypeError(f"{text!r}: give KEY=VALUE with KEY one of {', '.join(kinds)}")
    kind = kinds[key]
    if kind == "bool":
        if value.lower() not in ("true", "false"):
            raise argparse.ArgumentTypeError(f"{text!r}: {key} takes true or false")
        return key, value.lower() == "true"
    return key, int(value) if kind == "int" else float(value) if kind == "float" else value


def model_arg(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` for the race model's builder: true/false, an int, a float, else the text."""
    key, _, value = text.partition("=")
    if not key.isidentifier() or not value:
        raise argparse.ArgumentTypeError(f"{text!r}: give KEY=VALUE, e.g. batch_norm=false")
    if value.lower() in ("true", "false"):
        return key, value.lower() == "true"
    for kind in (int, float):
        try:
            return key, kind(value)
        except ValueError:
            pass
    return key, value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="mnist-race seeds [0-4]")
    ap.add_argument("--epochs", type=float, help="the 99.0%% race's schedule [mnist-race's recipe]")
    ap.add_argument("--short-epochs", type=float, default=1.25, help="the 98.9%% race's schedule [1.25]")
    ap.add_argument(
        "--recipe", type=recipe_override, nargs="+", default=[], help="KEY=VALUE changes to mnist-race's recipe"
    )
    ap.add_argument(
        "--model-arg",
        type=model_arg,
        nargs="+",
        default=[],
        help="KEY=VALUE arguments for mnist-race's builder (e.g. batch_norm=false: the net before batch norm)",
    )
    ap.add_argument("--lenet-seeds", type=int, nargs="*", default=[0, 1, 2], help="lenet5 seeds [0-2]")
    ap.add_argument("--baseline-epochs", type=float, default=3)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--no-lenet", action="store_true")
    ap.add_argument("--heldout", action="store_true", help="train on 50k, evaluate on the last 10k of train")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument(
        "--device",
        default="cpu",
        help="where cnnlab's runs train: cpu, or cuda for the GPU race (the baseline stays on the CPU)",
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: seed 0, short schedules, writes *_quick.json")
    ap.add_argument("--out", help="JSON path [benchmarks/results/mnist_speed{,_heldout,_quick}.json]")
    args = ap.parse_args()
    args.device = str(common.device_or_exit(args.device))  # one line, not a traceback, without a GPU
    if args.threads:
        torch.set_num_threads(args.threads)
    recipe = dict(args.recipe)
    model_args = dict(args.model_arg)
    data_given = {"num_classes", "in_channels", "input_size"} & set(model_args)
    if data_given:
        ap.error(f"--model-arg: {', '.join(sorted(data_given))} come from the data; give the model's own arguments")
    try:  # the call run_cnnlab makes, on MNIST's shape
        create(RACE_MODEL, 10, 1, (28, 28), **model_args)
    except (TypeError, ValueError, CnnlabError) as e:  # an argument the builder does not take, or a bad value
        ap.error(f"--model-arg {' '.join(f'{k}={v}' for k, v in model_args.items())}: {e}")
    long_epochs = args.epochs or config_for(RACE_MODEL, **recipe).epochs
    lenet_epochs: float = config_for("lenet5").epochs
    if args.quick:
        args.seeds, args.lenet_seeds, args.baseline_epochs = args.seeds[:1], args.lenet_seeds[:1], 0.25
        long_epochs, args.short_epochs, lenet_epochs = 1.0, 0.5, 0.5

    rows: list[dict] = []
    if not args.no_baseline and not args.heldout:  # first, in the process as plain PyTorch leaves it
        print(f"plain PyTorch (pytorch/examples), {args.baseline_epochs:g} epochs", flush=True)
        rows.append(run_baseline(args.baseline_epochs, seed=1))
    race_data = split(args.heldout, RACE_MODEL, args.device)
    run_cnnlab(RACE_MODEL, 0, 1, race_data, warmup_steps=10, recipe=recipe, model_args=model_args)
    for label, epochs in (("99.0", long_epochs), ("98.9", args.short_epochs)):
        for seed in args.seeds:
            row = run_cnnlab(RACE_MODEL, seed, epochs, race_data, recipe=recipe, model_args=model_args)
            rows.append({**row, "race": label})
            print(
                f"{row['recipe']} seed {seed}: {100 * row['final_accuracy']:.2f}% in {row['train_seconds']:.2f} s; "
                f"98.9% at {row['time_to_98.9']} s, 99.0% at {row['time_to_99.0']} s",
                flush=True,
            )
    if not args.no_lenet:
        lenet_data = split(args.heldout, "lenet5", args.device)
        run_cnnlab("lenet5", 0, 1, lenet_data, warmup_steps=10)
        for seed in args.lenet_seeds:
            rows.append(run_cnnlab("lenet5", seed, lenet_epochs, lenet_data))
            print(f"{rows[-1]['recipe']} seed {seed}: {100 * rows[-1]['final_accuracy']:.2f}%", flush=True)

    print()
    table = [
        {
            **r,
            "accuracy": 100 * r["final_accuracy"],
            **{f"t{100 * t:.1f}": r[f"time_to_{100 * t:.1f}"] for t in TARGETS},
        }
        for r in rows
    ]
    common.print_table(
        table,
        [
            ("recipe", "recipe", ""),
            ("seed", "seed", "d"),
            ("params", "params", ","),
            ("images_per_second", "train img/s", ",.0f"),
            ("train_seconds", "train s", ".2f"),
            ("train_cpu_seconds", "CPU s", ".2f"),
            ("accuracy", "final acc %", ".2f"),
            ("t98.9", "s to 98.9%", ".2f"),
            ("t99.0", "s to 99.0%", ".2f"),
        ],
    )
    summary = verdict(rows, GPU_LIMITS if args.device.startswith("cuda") else LIMITS)
    print()
    for key, v in summary.items():
        print(f"{key}: " + ", ".join(f"{k} {x:.3g}" if isinstance(x, float) else f"{k} {x}" for k, x in v.items()))
    gpu = "_" + args.device.split(":")[0] if args.device != "cpu" else ""  # never over the CPU race's JSON
    changed = "".join(f"_{k}-{v}" for k, v in model_args.items()).lower()  # never over the recipe's own JSON
    name = "mnist_speed" + gpu + ("_heldout" if args.heldout else "") + changed + ("_quick" if args.quick else "")
    config = {k: v for k, v in vars(args).items() if k not in ("out", "recipe", "model_arg")}
    config["recipe_changes"] = recipe
    config["model_args"] = model_args
    recipe = dataclasses.asdict(config_for(RACE_MODEL, **recipe))
    common.write_json(
        name,
        {
            "evaluated_on": "held-out last 10k of train (trained on the first 50k)" if args.heldout else "test set",
            "args": {**config, "epochs": long_epochs},
            "race_recipe": recipe,
            "crop_keeps_ink": crop_ink(race_data[0]),
            "rows": rows,
            "verdict": summary,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
