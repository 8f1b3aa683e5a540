"""The lecture's invariance argument, as an experiment.

Lecture 9: a locally connected layer "is good when the input image is registered (e.g. face
recognition)"; when "the object can be anywhere", the replicated-feature (convolutional)
approach wins, "statistics are similar at different locations", with far fewer parameters.

Two versions of MNIST on a 40×40 canvas:

* registered: every digit centred (as in MNIST itself);
* translated: every digit at its own random position (offsets 0-12 pixels each way).

A fully connected, a locally connected and a convolutional net (``models/baselines.py``: the
last two have the same units in every layer and differ only in weight sharing) are trained
on each version and tested on both. Verify, don't assume: the table reports what happened.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cnnlab import atomic
from cnnlab.data import ImageTensors, load_dataset
from cnnlab.models import get_spec
from cnnlab.size.memory import training_bytes
from cnnlab.train.config import TrainConfig
from cnnlab.train.loop import EpochState, epoch_batches, evaluate, train_one_epoch
from cnnlab.train.optim import build_optimizer, build_schedule

MODELS = ("fc-baseline", "lc-baseline", "conv-baseline")
SETTINGS = ("registered", "translated")


@dataclass(frozen=True)
class InvarianceConfig:
    canvas: int = 40  # side of the canvas the 28×28 digits are placed on
    train_size: int = 20000  # training images used (of MNIST's 60,000)
    test_size: int = 10000  # test images used
    epochs: int = 4  # per model and setting
    batch_size: int = 128
    lr: float = 2e-3  # peak of the one-cycle schedule (AdamW)
    seed: int = 0
    data_dir: str | None = None


def place(images: torch.Tensor, canvas: int, offsets: torch.Tensor) -> torch.Tensor:
    """(N, 1, 28, 28) uint8 -> (N, 1, canvas, canvas) with image i's top-left corner at offsets[i]."""
    n, c, h, w = images.shape
    out = torch.zeros(n, c, canvas, canvas, dtype=images.dtype)
    rows = offsets[:, 0, None] + torch.arange(h)  # (N, 28)
    cols = offsets[:, 1, None] + torch.arange(w)  # (N, 28)
    idx = torch.arange(n)[:, None, None]
    out[idx, :, rows[:, :, None], cols[:, None, :]] = images.permute(0, 2, 3, 1)  # (N, 28, 28, C) written into place
    return out


def make_setting(data: ImageTensors, canvas: int, setting: str, generator: torch.Generator) -> ImageTensors:
    n = len(data)
    span = canvas - data.shape[1]
    if setting == "registered":
        offsets = torch.full((n, 2), span // 2)
    else:
        offsets = torch.randint(0, span + 1, (n, 2), generator=generator)
    images = place(data.images, canvas, offsets)
    mean = images.double().mean().item() / 255
    std = images.double().std().item() / 255
    return dataclasses.replace(data, images=images, mean=(mean,), std=(std,))


def run(cfg: InvarianceConfig, log=print) -> dict[str, Any]:
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    train, test = load_dataset("mnist", cfg.data_dir, quiet=True)
    assert isinstance(train, ImageTensors) and isinstance(test, ImageTensors)  # MNIST is held in memory
    train = train.subset(torch.randperm(len(train), generator=g)[: cfg.train_size])
    test = test.subset(slice(0, cfg.test_size))
    data = {s: (make_setting(train, cfg.canvas, s, g), make_setting(test, cfg.canvas, s, g)) for s in SETTINGS}
    rows = []
    for name in MODELS:
        for setting in SETTINGS:
            tcfg = TrainConfig(
                model=name,
                epochs=cfg.epochs,
                batch_size=cfg.batch_size,
                lr=cfg.lr,
                seed=cfg.seed,
                device="cpu",
                label_smoothing=0.0,
                channels_last=False,
            )
            torch.manual_seed(cfg.seed)
            model = get_spec(name).build(num_classes=10, in_channels=1, input_size=(cfg.canvas, cfg.canvas))
            tr, _ = data[setting]
            opt = build_optimizer(model, tcfg)
            sched = build_schedule(opt, tcfg, tcfg.epochs * tr.num_batches(tcfg.batch_size))
            start = time.perf_counter()
            for epoch in range(1, tcfg.epochs + 1):
                g = torch.Generator().manual_seed(cfg.seed + epoch)
                state = EpochState(torch.randperm(len(tr), generator=g))
                train_one_epoch(model, opt, sched, epoch_batches(tr, tcfg, state, g), tcfg, state, epoch)
            seconds = time.perf_counter() - start
            row = {
                "model": name,
                "trained_on": setting,
                "params": sum(p.numel() for p in model.parameters()),
                "train_seconds": seconds,
            }
            for test_setting in SETTINGS:
                row[f"test_{test_setting}"] = evaluate(model, data[test_setting][1], tcfg)["accuracy"]
            rows.append(row)
            log(
                f"{name:14} trained on {setting:10}  test registered {100 * row['test_registered']:6.2f}%  "
                f"test translated {100 * row['test_translated']:6.2f}%  ({row['params']:,} params, {seconds:.0f} s)"
            )
    return {"config": dataclasses.asdict(cfg), "rows": rows, "findings": findings(rows)}


CHANCE = 0.1  # ten digit classes
LEARNED = 2 * CHANCE  # below this a model has not learned enough for its numbers to say anything
MARGIN = 0.01  # accuracy differences under one point are "about the same"


def _compare(a: float, b: float) -> str:
    """'higher', 'lower' or 'about the same' for accuracy a against b."""
    if a > b + MARGIN:
        return "higher"
    if a < b - MARGIN:
        return "lower"
    return "about the same"


def findings(rows: list[dict[str, Any]]) -> list[str]:
    """What the numbers say about the lecture's three predictions, in words chosen from the
    numbers: a verdict only where the models learned (above twice chance) and the difference
    is over one point; otherwise the sentence says that the run cannot tell."""
    get = {(r["model"], r["trained_on"]): r for r in rows}
    lc_reg = get[("lc-baseline", "registered")]
    lc_tr = get[("lc-baseline", "translated")]
    cv_tr = get[("conv-baseline", "translated")]
    cv_reg = get[("conv-baseline", "registered")]
    pct = lambda v: f"{100 * v:.2f}%"  # noqa: E731

    def verdict(values: list[float], cmp: str, predicted: str) -> str:
        if max(values) < LEARNED:
            return (
                f"every figure is near chance ({pct(CHANCE)}): the models did not learn, so this run cannot test "
                "the lecture; train longer (--epochs) or on more images (--train-size)"
            )
        if cmp == "about the same":
            return "within one point: this run cannot tell them apart"
        return "as the lecture predicts" if cmp == predicted else "against the lecture's prediction"

    first = _compare(lc_tr["test_translated"], lc_reg["test_registered"])
    second = _compare(cv_tr["test_translated"], lc_tr["test_translated"])
    third = _compare(cv_reg["test_translated"], lc_reg["test_translated"])
    return [
        f"locally connected, registered inputs: {pct(lc_reg['test_registered'])}; on translated inputs "
        f"(trained on them): {pct(lc_tr['test_translated'])}, {first}; "
        + verdict([lc_reg["test_registered"], lc_tr["test_translated"]], first, "lower"),
        f"conv net on translated inputs: {pct(cv_tr['test_translated'])} vs locally connected "
        f"{pct(lc_tr['test_translated'])} ({second}), with {cv_tr['params']:,} vs {lc_tr['params']:,} parameters "
        f"({lc_tr['params'] / cv_tr['params']:.0f}× fewer); "
        + verdict([cv_tr["test_translated"], lc_tr["test_translated"]], second, "higher"),
        f"trained on registered digits and tested on translated ones: conv {pct(cv_reg['test_translated'])}, "
        f"locally connected {pct(lc_reg['test_translated'])} ({third}); "
        + verdict([cv_reg["test_translated"], lc_reg["test_translated"]], third, "higher"),
    ]


def memory_bytes(cfg: InvarianceConfig) -> int:
    """Estimated peak bytes of :func:`run`: both settings of the data as uint8, the float64
    copy ``make_setting`` takes for the statistics, and the largest model in training."""
    pixels = cfg.canvas * cfg.canvas
    data = 2 * (cfg.train_size + cfg.test_size) * pixels + 8 * cfg.train_size * pixels
    models = max(
        training_bytes(
            lambda name=name: get_spec(name).build(num_classes=10, in_channels=1, input_size=(cfg.canvas, cfg.canvas)),
            (1, cfg.canvas, cfg.canvas),
            cfg.batch_size,
        )
        for name in MODELS
    )
    return data + models


def plot(result: dict[str, Any], path: Path) -> None:
    """Write :func:`figure` as a PNG, atomically."""
    fig = _figure(result)
    atomic.write_with(path, lambda tmp: fig.savefig(tmp, format="png"))


def figure(result: dict[str, Any]):
    """The bar chart of :func:`run`'s result as a :class:`~cnnlab.display.Picture` (shown
    inline in a notebook, ``.save(path)``)."""
    from cnnlab.display import Picture

    return Picture.from_figure(_figure(result), "registered vs translated digits")


def _figure(result: dict[str, Any]):
    import numpy as np
    from matplotlib.figure import Figure  # no pyplot: a notebook's own backend is left alone

    rows = result["rows"]
    labels = [f"{r['model'].replace('-baseline', '')}\ntrained {r['trained_on']}" for r in rows]
    x = np.arange(len(rows))
    fig = Figure(figsize=(10, 4.5), dpi=110)
    ax = fig.subplots()
    for i, (key, color) in enumerate((("test_registered", "tab:blue"), ("test_translated", "tab:orange"))):
        vals = [100 * r[key] for r in rows]
        bars = ax.bar(x + (i - 0.5) * 0.38, vals, 0.38, label=key.replace("_", " on "), color=color)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title("MNIST on a 40×40 canvas: registered vs translated digits (lecture 9's invariance argument)")
    ax.legend(loc="lower left")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
