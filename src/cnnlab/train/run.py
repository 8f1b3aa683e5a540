"""One training run end to end (``cnnlab train``) and re-evaluating a finished run (``cnnlab eval``)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnlab.data import ImageTensors, load_dataset
from cnnlab.data.augment import get_augment
from cnnlab.device import resolve_device
from cnnlab.errors import DivergedError
from cnnlab.models import get_spec
from cnnlab.train.config import TrainConfig
from cnnlab.train.loop import evaluate, train_one_epoch
from cnnlab.train.optim import build_optimizer, build_schedule
from cnnlab.train.plot import plot_curves
from cnnlab.train.run_dir import RunDir

# "In 1998, Yann LeCun and colleagues built a conv net called LeNet which was able to
# classify digits with 98.9% test accuracy." (lecture 9)
LECTURE_REFERENCE = {"mnist": (0.989, "LeNet 1998 (lecture): 98.9%")}


def config_for(model: str = "lenet5", **overrides: Any) -> TrainConfig:
    """The config for ``model``: global defaults, then the model's recipe, then ``overrides``
    (``None`` values are ignored, so CLI flags left unset keep the recipe)."""
    recipe = dict(get_spec(model).recipe)
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(given) - {f.name for f in dataclasses.fields(TrainConfig)}
    assert not unknown, f"unknown config fields {unknown}"
    return TrainConfig(**{**recipe, **given, "model": model})


def build_model(cfg: TrainConfig, data: ImageTensors) -> tuple[nn.Module, dict[str, Any]]:
    spec = get_spec(cfg.model)
    c, h, w = data.shape
    spec.check_input(c, (h, w), source=cfg.dataset)
    model_args = {"num_classes": data.num_classes, "in_channels": c, "input_size": [h, w]}
    return spec.build(num_classes=data.num_classes, in_channels=c, input_size=(h, w)), model_args


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def run_training(
    cfg: TrainConfig,
    out: str | Path | None = None,
    quiet: bool = False,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train ``cfg.model`` on ``cfg.dataset``; write a run folder; return the summary."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    train, test = load_dataset(cfg.dataset, cfg.data_dir, device=device, quiet=quiet)
    if cfg.train_subset:
        train = train.subset(slice(0, cfg.train_subset))

    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)  # shuffling and augmentation
    model, model_args = build_model(cfg, train)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = model.to(device=device, memory_format=memory_format)
    optimizer = build_optimizer(model, cfg)
    scheduler = build_schedule(optimizer, cfg, cfg.epochs * train.num_batches(cfg.batch_size))
    augment = get_augment(cfg.augment)

    run = RunDir.create(out, cfg)
    run.write_config(cfg, model_args)
    params = count_params(model)
    echo(
        f"training {cfg.model} ({params:,} params) on {cfg.dataset} ({len(train):,} images) on {device}; run folder {run.path}"
    )

    summary: dict[str, Any] = {
        "model": cfg.model,
        "dataset": cfg.dataset,
        "epochs": 0,
        "test_accuracy": None,
        "test_loss": None,
        "train_seconds": 0.0,
        "params": params,
        "run_dir": str(run.path),
        "device": str(device),
        "seed": cfg.seed,
    }
    metrics: list[dict[str, Any]] = []
    try:
        for epoch in range(1, cfg.epochs + 1):
            stats = train_one_epoch(model, optimizer, scheduler, train, cfg, epoch, generator, augment, quiet)
            result = evaluate(model, test, cfg)
            summary["train_seconds"] += stats.seconds
            row = {
                "epoch": epoch,
                "train_loss": stats.loss,
                "test_loss": result["loss"],
                "test_accuracy": result["accuracy"],
                "epoch_seconds": stats.seconds,
                "train_seconds": summary["train_seconds"],
                "images_per_second": stats.images / stats.seconds,
                "lr": optimizer.param_groups[0]["lr"],
                "train_loss_trace": stats.loss_trace,
            }
            run.append_metrics(row)
            metrics.append(row)
            summary.update(epochs=epoch, test_accuracy=result["accuracy"], test_loss=result["loss"])
            echo(
                f"epoch {epoch}/{cfg.epochs}  train loss {stats.loss:.4f}  test loss {result['loss']:.4f}  "
                f"test acc {100 * result['accuracy']:.2f}%  ({stats.seconds:.1f} s, {stats.images / stats.seconds:,.0f} img/s)"
            )
    except DivergedError as e:
        run.write_summary({**summary, "status": "diverged", "error": str(e)})
        raise
    except KeyboardInterrupt:
        run.write_summary({**summary, "status": "interrupted"})
        raise
    run.save_weights(model, metadata={"model": cfg.model, "config": json.dumps(cfg.to_dict())})
    plot_curves(
        metrics,
        run.path / RunDir.CURVES,
        title=f"{cfg.model} on {cfg.dataset}",
        label_smoothing=cfg.label_smoothing,
        reference=LECTURE_REFERENCE.get(cfg.dataset),
    )
    summary["images_per_second"] = (
        sum(r["epoch_seconds"] * r["images_per_second"] for r in metrics) / summary["train_seconds"]
    )
    summary["status"] = "finished"
    run.write_summary(summary)
    return summary


def load_run(run_dir: str | Path, device: str = "auto") -> tuple[nn.Module, TrainConfig, RunDir]:
    """The trained model of a run folder, its config, and the folder."""
    run = RunDir.open(run_dir)
    cfg, model_args = run.read_config()
    dev = resolve_device(device)
    model = get_spec(cfg.model).build(
        num_classes=model_args["num_classes"],
        in_channels=model_args["in_channels"],
        input_size=tuple(model_args["input_size"]),
    )
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = run.load_weights(model, device="cpu").to(device=dev, memory_format=memory_format)
    model.eval()
    return model, cfg, run


def evaluate_run(run_dir: str | Path, device: str = "auto", data_dir: str | None = None) -> dict[str, Any]:
    """Reload a run's weights and evaluate them on its dataset's test split."""
    model, cfg, run = load_run(run_dir, device)
    dev = next(model.parameters()).device
    _, test = load_dataset(cfg.dataset, data_dir or cfg.data_dir, device=dev, quiet=True)
    result = evaluate(model, test, cfg)
    return {
        "model": cfg.model,
        "dataset": cfg.dataset,
        "test_accuracy": result["accuracy"],
        "test_loss": result["loss"],
        "correct": result["correct"],
        "total": result["total"],
        "params": count_params(model),
        "run_dir": str(run.path),
        "device": str(dev),
    }
