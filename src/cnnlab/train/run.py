"""One training run end to end (``cnnlab train``, also under torchrun) and re-evaluating a run (``cnnlab eval``)."""

from __future__ import annotations

import dataclasses
import json
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnlab.data import load_dataset
from cnnlab.data.augment import get_augment
from cnnlab.device import resolve_device
from cnnlab.errors import CnnlabError, DivergedError
from cnnlab.models import get_spec
from cnnlab.train.checkpoint import load_checkpoint, restore_rng, rng_state, save_checkpoint
from cnnlab.train.config import TrainConfig
from cnnlab.train.distributed import Dist, device_for, init_distributed, shutdown
from cnnlab.train.loop import EpochState, evaluate, train_one_epoch
from cnnlab.train.optim import build_optimizer, build_schedule
from cnnlab.train.plot import plot_curves
from cnnlab.train.run_dir import RunDir

# "In 1998, Yann LeCun and colleagues built a conv net called LeNet which was able to
# classify digits with 98.9% test accuracy." (lecture 9)
LECTURE_REFERENCE = {"mnist": (0.989, "LeNet 1998 (lecture): 98.9%")}


class TrainingInterrupted(CnnlabError):
    exit_code = 130


def config_for(model: str = "lenet5", **overrides: Any) -> TrainConfig:
    """The config for ``model``: global defaults, then the model's recipe, then ``overrides``
    (``None`` values are ignored, so CLI flags left unset keep the recipe)."""
    recipe = dict(get_spec(model).recipe)
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(given) - {f.name for f in dataclasses.fields(TrainConfig)}
    assert not unknown, f"unknown config fields {unknown}"
    return TrainConfig(**{**recipe, **given, "model": model})


def load_data(cfg: TrainConfig, device: torch.device, quiet: bool):
    """(train, test), adapted to the model: subsets, --resize, gray repeated to RGB when needed."""
    spec = get_spec(cfg.model)
    workers = None if cfg.workers < 0 else cfg.workers
    train, test = load_dataset(
        cfg.dataset, cfg.data_dir, device=device, quiet=quiet, resize=cfg.resize, workers=workers
    )
    needs_rgb = bool(cfg.resize) and spec.input_shape is not None and spec.input_shape[0] == 3 and train.shape[0] == 1
    if needs_rgb:
        train, test = (dataclasses.replace(d, rgb=True) for d in (train, test))
    if cfg.train_subset:
        train = train.subset(slice(0, cfg.train_subset))
    if cfg.test_subset:
        test = test.subset(slice(0, cfg.test_subset))
    return train, test


def build_model(cfg: TrainConfig, data) -> tuple[nn.Module, dict[str, Any]]:
    spec = get_spec(cfg.model)
    c, h, w = data.shape
    spec.check_input(c, (h, w), source=cfg.dataset)
    model_args = {"num_classes": data.num_classes, "in_channels": c, "input_size": [h, w]}
    return spec.build(num_classes=data.num_classes, in_channels=c, input_size=(h, w)), model_args


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class _StopFlag:
    """Ctrl-C sets a flag that the loop checks between steps (a second Ctrl-C stops at once)."""

    def __init__(self) -> None:
        self.set = False
        self.previous = None

    def __enter__(self) -> _StopFlag:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.set:
            raise KeyboardInterrupt
        self.set = True

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def run_training(
    cfg: TrainConfig,
    out: str | Path | None = None,
    quiet: bool = False,
    echo: Callable[[str], None] = print,
    resume: str | Path | None = None,
) -> dict[str, Any]:
    """Train ``cfg.model`` on ``cfg.dataset`` (continuing ``resume``'s checkpoint if given);
    write the run folder (rank 0 only under torchrun); return the summary."""
    dist = init_distributed(cfg.device)
    try:
        return _run(cfg, out, quiet, echo if dist.main else (lambda s: None), resume, dist)
    finally:
        shutdown(dist)


def _run(cfg: TrainConfig, out, quiet: bool, echo, resume, dist: Dist) -> dict[str, Any]:
    if resume is not None:
        run = RunDir.open(resume)
        stored_cfg, _ = run.read_config()
        cfg = dataclasses.replace(stored_cfg, device=cfg.device if cfg.device != "auto" else stored_cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(device_for(dist, cfg.device))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    train, test = load_data(cfg, device, quiet or not dist.main)

    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)  # shuffling and augmentation
    model, model_args = build_model(cfg, train)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    raw = model.to(device=device, memory_format=memory_format)
    optimizer = build_optimizer(raw, cfg)
    scheduler = build_schedule(optimizer, cfg, cfg.epochs * train.num_batches(cfg.batch_size))
    augment = get_augment(cfg.augment)
    scaler = torch.amp.GradScaler("cuda") if cfg.amp == "fp16" and device.type == "cuda" else None
    params = count_params(raw)

    summary: dict[str, Any] = {
        "model": cfg.model,
        "dataset": cfg.dataset,
        "epochs": 0,
        "test_accuracy": None,
        "test_loss": None,
        "train_seconds": 0.0,
        "params": params,
        "run_dir": None,
        "device": str(device),
        "seed": cfg.seed,
    }
    first_epoch, epoch_state, metrics = 1, None, []
    if resume is not None:
        state = load_checkpoint(run.path, warn=echo)
        raw.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        restore_rng(state["rng"], generator)
        first_epoch = state["epoch"]
        metrics = [m for m in run.read_metrics() if m["epoch"] < first_epoch]
        summary["train_seconds"] = sum(m["epoch_seconds"] for m in metrics)
        if state["step"] > 0:
            epoch_state = EpochState(
                state["order"],
                state["step"],
                state["loss_sum"],
                state["seconds"],
                state["images"],
                list(state["trace"]),
            )
        echo(f"resuming {run.path} at epoch {first_epoch}, step {state['step']}")
    elif dist.main:
        run = RunDir.create(out, cfg)
        run.write_config(cfg, model_args)
    else:
        run = None
    summary["run_dir"] = str(run.path) if run else None
    if first_epoch > cfg.epochs:
        echo(f"{run.path} already finished its {cfg.epochs} epochs; nothing to resume")
        return json.loads((run.path / RunDir.SUMMARY).read_text()) if (run.path / RunDir.SUMMARY).exists() else summary

    model: nn.Module = raw
    if dist.enabled:
        model = nn.parallel.DistributedDataParallel(raw, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:
        model = torch.compile(model)
    writer = _tensorboard(run, cfg) if dist.main and cfg.tensorboard else None
    what = f"{cfg.model} ({params:,} params) on {cfg.dataset} ({len(train):,} images) on {device}"
    echo(
        f"training {what}{f' × {dist.world} processes' if dist.enabled else ''}; run folder {run.path if run else '-'}"
    )

    def save(epoch: int, estate: EpochState | None) -> None:
        if not dist.main:
            return
        state = {
            "model": raw.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": rng_state(generator),
            "epoch": epoch,
            "step": estate.step if estate else 0,
        }
        if estate is not None:
            state.update(
                order=estate.order.cpu(),
                loss_sum=estate.loss_sum,
                seconds=estate.seconds,
                images=estate.images,
                trace=list(estate.trace),
            )
        save_checkpoint(run.path, state)

    try:
        with _StopFlag() as stop:
            for epoch in range(first_epoch, cfg.epochs + 1):
                if epoch_state is None:
                    epoch_state = EpochState(torch.randperm(len(train), generator=generator))
                epoch_state = train_one_epoch(
                    model,
                    optimizer,
                    scheduler,
                    train,
                    cfg,
                    epoch,
                    generator,
                    epoch_state,
                    augment,
                    quiet,
                    dist,
                    scaler,
                    checkpoint=lambda s, epoch=epoch: save(epoch, s),
                    stop=lambda: stop.set,
                )
                if stop.set:
                    raise TrainingInterrupted(
                        f"interrupted at epoch {epoch}, step {epoch_state.step}; checkpoint saved; "
                        f"continue with: cnnlab train --resume {run.path if run else 'RUN_DIR'}"
                    )
                result = evaluate(model, test, cfg, dist)
                st = epoch_state
                summary["train_seconds"] += st.seconds
                row = {
                    "epoch": epoch,
                    "train_loss": st.loss_sum / max(st.step, 1),
                    "test_loss": result["loss"],
                    "test_accuracy": result["accuracy"],
                    "test_top5_accuracy": result["top5_accuracy"],
                    "epoch_seconds": st.seconds,
                    "train_seconds": summary["train_seconds"],
                    "images_per_second": len(train) / st.seconds if st.seconds else 0.0,
                    "lr": optimizer.param_groups[0]["lr"],
                    "train_loss_trace": st.trace,
                }
                metrics.append(row)
                summary.update(epochs=epoch, test_accuracy=result["accuracy"], test_loss=result["loss"])
                if dist.main:
                    run.append_metrics(row)
                    save(epoch + 1, None)
                    if writer is not None:
                        _log_epoch(writer, raw, row, epoch, model_args)
                echo(
                    f"epoch {epoch}/{cfg.epochs}  train loss {row['train_loss']:.4f}  test loss {result['loss']:.4f}  "
                    f"test acc {100 * result['accuracy']:.2f}%  ({st.seconds:.1f} s, {row['images_per_second']:,.0f} img/s)"
                )
                epoch_state = None
    except DivergedError as e:
        if dist.main:
            run.write_summary({**summary, "status": "diverged", "error": str(e)})
        raise
    except (TrainingInterrupted, KeyboardInterrupt):
        if dist.main:
            run.write_summary({**summary, "status": "interrupted"})
        raise
    finally:
        if writer is not None:
            writer.close()
    summary["images_per_second"] = sum(len(train) for _ in metrics) / max(
        sum(m["epoch_seconds"] for m in metrics), 1e-9
    )
    summary["test_top5_accuracy"] = metrics[-1]["test_top5_accuracy"]
    summary["status"] = "finished"
    if dist.main:
        run.save_weights(raw, metadata={"model": cfg.model, "config": json.dumps(cfg.to_dict())})
        plot_curves(
            metrics,
            run.path / RunDir.CURVES,
            title=f"{cfg.model} on {cfg.dataset}",
            label_smoothing=cfg.label_smoothing,
            reference=LECTURE_REFERENCE.get(cfg.dataset),
        )
        run.write_summary(summary)
        if writer is not None:
            _log_hparams(run, cfg, summary)
    return summary


def _tensorboard(run: RunDir, cfg: TrainConfig):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise CnnlabError("--tensorboard needs the tensorboard package: pip install tensorboard") from None
    return SummaryWriter(str(run.path / "tensorboard"))


def _log_epoch(writer, model: nn.Module, row: dict, epoch: int, model_args: dict) -> None:
    for key in ("train_loss", "test_loss", "test_accuracy", "test_top5_accuracy", "lr", "images_per_second"):
        writer.add_scalar(key, row[key], epoch)
    try:
        import numpy as np

        from cnnlab.viz.filters import filter_tiles, first_weight_layer
        from cnnlab.viz.images import grid
        from cnnlab.viz.layers import get_layer

        shape = (model_args["in_channels"], *model_args["input_size"])
        tiles, _ = filter_tiles(get_layer(model, first_weight_layer(model)), shape)
        picture = grid(tiles, pad=1, scale=4)
        writer.add_image("first_layer_filters", np.atleast_3d(picture), epoch, dataformats="HWC")
    except CnnlabError:
        pass  # a model without image-like first-layer filters


def _log_hparams(run: RunDir, cfg: TrainConfig, summary: dict) -> None:
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(run.path / "tensorboard")) as writer:
        hparams = {k: v for k, v in cfg.to_dict().items() if isinstance(v, (int, float, str, bool))}
        writer.add_hparams(
            hparams,
            {"hparam/test_accuracy": summary["test_accuracy"], "hparam/test_loss": summary["test_loss"]},
            run_name=".",
        )


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
