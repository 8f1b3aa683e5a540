"""Evaluating a model: top-1 and top-5 accuracy and error (the lecture quotes top-5 error:
AlexNet 16.4%, Inception 6.6%), per-class accuracy, and the confusion matrix as a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnlab import atomic
from cnnlab.device import resolve_device
from cnnlab.extras import require
from cnnlab.models import get_spec
from cnnlab.runs import Run, resolve
from cnnlab.train.config import TrainConfig
from cnnlab.train.loop import evaluate
from cnnlab.train.run import count_params, load_data


def full_evaluation(model: nn.Module, data, cfg: TrainConfig) -> dict[str, Any]:
    """:func:`cnnlab.train.loop.evaluate` with the confusion matrix, as ``cnnlab eval`` reports it:
    top-1 and top-k accuracy and error, loss, per-class accuracy."""
    r = evaluate(model, data, cfg, confusion=True)
    confusion: torch.Tensor = r["confusion"]
    k, n, correct = r["topk"], r["total"], r["correct"]
    per_class = (confusion.diagonal().double() / confusion.sum(1).clamp_min(1)).tolist()
    return {
        "test_accuracy": correct / n,
        "test_error": 1 - correct / n,
        f"test_top{k}_accuracy": r[f"top{k}_accuracy"],
        f"test_top{k}_error": 1 - r[f"top{k}_accuracy"],
        "topk": k,
        "test_loss": r["loss"],
        "correct": correct,
        "total": n,
        "per_class_accuracy": {name: acc for name, acc in zip(data.classes, per_class)},
        "confusion": confusion.tolist(),
    }


def plot_confusion(confusion: list[list[int]], classes: tuple[str, ...], path: Path, title: str) -> None:
    """Write :func:`confusion_figure` as a PNG, atomically."""
    fig = _confusion_figure(confusion, classes, title)
    atomic.write_with(path, lambda tmp: fig.savefig(tmp, format="png"))


def confusion_figure(confusion: list[list[int]], classes: tuple[str, ...], title: str = ""):
    """The confusion matrix (rows: true class, columns: predicted; counts written in the
    cells of up to 15 classes) as a :class:`~cnnlab.display.Picture`."""
    from cnnlab.display import Picture

    return Picture.from_figure(_confusion_figure(confusion, classes, title), title)


def _confusion_figure(confusion: list[list[int]], classes: tuple[str, ...], title: str):
    require("matplotlib", "plot", "the confusion-matrix PNG")
    import numpy as np
    from matplotlib.figure import Figure  # no pyplot: a notebook's own backend is left alone

    m = np.array(confusion, dtype=float)
    rates = m / np.maximum(m.sum(1, keepdims=True), 1)
    k = len(classes)
    fig = Figure(figsize=(min(4 + 0.45 * k, 14), min(3.5 + 0.45 * k, 13)), dpi=110)
    ax = fig.subplots()
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    if k <= 30:
        ax.set_xticks(range(k), classes, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(k), classes, fontsize=8)
        if k <= 15:
            for i in range(k):
                for j in range(k):
                    if m[i, j]:
                        ax.text(
                            j,
                            i,
                            f"{int(m[i, j])}",
                            ha="center",
                            va="center",
                            fontsize=7,
                            color="white" if rates[i, j] > 0.5 else "black",
                        )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of the true class")
    fig.tight_layout()
    return fig


def evaluate_run(
    run_dir: str | Path, device: str = "auto", data_dir: str | None = None, confusion_png: str | Path | None = None
) -> dict[str, Any]:
    """Reload a run's weights and evaluate them on its dataset's test split, fed as it was trained."""
    run = Run.open(run_dir)
    model = run.model(device)
    dev = next(model.parameters()).device
    cfg = run.config
    _, test = run.data(dev, data_dir=data_dir, subsets=True)
    result = full_evaluation(model, test, cfg)
    png = Path(confusion_png) if confusion_png else run.path / "confusion.png"
    plot_confusion(
        result["confusion"],
        test.classes,
        png,
        f"{cfg.model} on {cfg.dataset}: {100 * result['test_accuracy']:.2f}% top-1",
    )
    return {
        "model": cfg.model,
        "dataset": cfg.dataset,
        **result,
        "params": count_params(model),
        "run_dir": str(run.path),
        "device": str(dev),
        "confusion_png": str(png),
    }


def evaluate_model(
    name: str,
    dataset: str,
    weights: str | None,
    data_dir: str | None,
    device: str = "auto",
    resize: int = 0,
    batch_size: int = 100,
    test_subset: int = 0,
    confusion_png: str | Path | None = None,
) -> dict[str, Any]:
    """A registered model (optionally with pretrained weights) on a dataset's test / val split:
    ``cnnlab eval --model resnet50 --weights DEFAULT --dataset imagefolder --data-dir IMAGENET``."""
    spec = get_spec(name)
    dev = resolve_device(device)
    size = resize or (spec.input_shape[1] if spec.input_shape else 0)
    cfg = TrainConfig(
        model=name,
        dataset=dataset,
        data_dir=data_dir,
        resize=size if dataset == "imagefolder" or resize else 0,
        eval_batch_size=batch_size,
        test_subset=test_subset,
        device=str(dev),
        channels_last=False,
    )
    _, test = load_data(cfg, dev, quiet=True)
    subject = resolve(name, weights, dev, input_shape=test.shape, num_classes=test.num_classes, source=dataset)
    result = full_evaluation(subject.model, test, cfg)
    if confusion_png:
        plot_confusion(result["confusion"], test.classes, Path(confusion_png), f"{name} on {dataset}")
    return {
        "model": name,
        "dataset": dataset,
        "weights": weights,
        **result,
        "params": count_params(subject.model),
        "device": str(dev),
        "confusion_png": str(confusion_png) if confusion_png else None,
    }
