"""One training run end to end (``cnnlab train``, also under torchrun).

The caller of the plain loop: it cuts each epoch into the parts between checkpoints, saves
them, handles Ctrl-C (a flag checked before each batch is drawn) and turns divergence into
a run folder whose summary says so. Loading a finished run back is :mod:`cnnlab.runs`.

Commit order at an epoch's end: the metrics line, then the checkpoint that says how many
metrics lines it covers. A kill between the two leaves one line too many, which resume cuts
back (atomically) before it redoes that epoch's end: no epoch is lost or written twice.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from tqdm import tqdm

from cnnlab.data.augment import get_augment
from cnnlab.device import resolve_device
from cnnlab.errors import CheckpointError, CnnlabError, DivergedError
from cnnlab.extras import MissingExtra, require
from cnnlab.models import get_spec
from cnnlab.runs import RunDir, adapted_data, load_run
from cnnlab.runs.folder import load_state
from cnnlab.runs.run import pipeline_of
from cnnlab.train import tensorboard
from cnnlab.train.checkpoint import load_checkpoint, restore_rng, rng_state, save_checkpoint
from cnnlab.train.config import TrainConfig
from cnnlab.train.distributed import Dist, device_for, init_distributed, shutdown
from cnnlab.train.ema import MovingAverage
from cnnlab.train.loop import EpochState, epoch_batches, evaluate, train_one_epoch
from cnnlab.train.optim import build_optimizer, build_schedule, effective_hyperparameters, load_schedule_state
from cnnlab.train.plot import plot_curves

__all__ = ["config_for", "load_data", "load_run", "run_training"]

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
    """(train, test), adapted to the model (see :func:`cnnlab.runs.adapted_data`)."""
    return adapted_data(cfg, device, quiet)


def build_model(cfg: TrainConfig, data) -> tuple[nn.Module, dict[str, Any]]:
    spec = get_spec(cfg.model)
    c, h, w = data.shape
    spec.check_input(c, (h, w), source=cfg.dataset)
    model_args = {"num_classes": data.num_classes, "in_channels": c, "input_size": [h, w]}
    return spec.build(num_classes=data.num_classes, in_channels=c, input_size=(h, w)), model_args


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class _StopFlag:
    """Ctrl-C sets a flag that the caller checks before each batch (a second Ctrl-C stops at once)."""

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


def _until_stopped(stop: _StopFlag, batches: Iterator) -> Iterator:
    """``batches`` until Ctrl-C; the flag is read *before* the next batch is drawn, so no batch
    (and none of the augmentation's random numbers) is used up and then dropped."""
    while not stop.set:
        try:
            batch = next(batches)
        except StopIteration:
            return
        yield batch


def _parts(batches: Iterable, step: int, total: int, every: int, stop: _StopFlag) -> Iterator[Iterator]:
    """The rest of an epoch (from ``step`` of ``total``) cut at every ``every``-th step (0: one part)."""
    it = iter(batches)
    while step < total and not stop.set:
        n = min(every - step % every if every else total - step, total - step)
        yield _until_stopped(stop, itertools.islice(it, n))
        step += n


def run_training(
    cfg: TrainConfig | None,
    out: str | Path | None = None,
    quiet: bool = False,
    echo: Callable[[str], None] = print,
    resume: str | Path | None = None,
    epochs: int | None = None,
) -> dict[str, Any]:
    """Train ``cfg.model`` on ``cfg.dataset``, or continue the run folder ``resume`` with its
    own config (``cfg`` then gives only the device and data folder; ``epochs`` extends it);
    write the run folder (rank 0 only under torchrun); return the summary."""
    if cfg is None and resume is None:
        raise CnnlabError("give a config or a run folder to resume")
    dist = init_distributed(cfg.device if cfg else "auto")
    try:
        return _run(cfg, out, quiet, echo if dist.main else (lambda s: None), resume, epochs, dist)
    finally:
        shutdown(dist)


def _resumed_config(run: RunDir, cfg: TrainConfig | None, epochs: int | None, echo) -> TrainConfig:
    stored, _ = run.read_config()
    changes: dict[str, Any] = {}
    if cfg is not None and cfg.device != "auto":
        changes["device"] = cfg.device
    if cfg is not None and cfg.data_dir:
        changes["data_dir"] = cfg.data_dir
    if epochs is not None and epochs != stored.epochs:
        changes["epochs"] = epochs
        echo(
            f"extending {run.path} from {stored.epochs} to {epochs} epochs: its {stored.schedule} learning-rate "
            f"schedule now spans {epochs} epochs, so the rest of the run follows the longer schedule"
        )
    return dataclasses.replace(stored, **changes)


def _run(cfg, out, quiet: bool, echo, resume, epochs: int | None, dist: Dist) -> dict[str, Any]:
    run: RunDir | None = None
    if resume is not None:
        run = RunDir.open(resume)
        cfg = _resumed_config(run, cfg, epochs, echo)
    assert cfg is not None
    if cfg.tensorboard:
        require("tensorboard", "tensorboard", "--tensorboard")  # before any folder is made
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
    # torch's stub types Module.to without its memory_format keyword (which it takes)
    raw = model.to(device).to(memory_format=memory_format)  # pyright: ignore[reportCallIssue]
    total_steps = train.num_batches(cfg.batch_size)
    optimizer = build_optimizer(raw, cfg)
    ema = MovingAverage(raw, cfg.ema) if cfg.ema else None  # what is evaluated and saved, when on
    scheduler = build_schedule(optimizer, cfg, cfg.epochs * total_steps)
    augment = get_augment(cfg.augment)
    scaler = torch.amp.GradScaler("cuda") if cfg.amp == "fp16" and device.type == "cuda" else None
    params = count_params(raw)
    pipeline = pipeline_of(train, cfg)
    record = {
        "pipeline": pipeline.to_dict(),
        "optimizer": effective_hyperparameters(optimizer, scheduler, cfg, cfg.epochs * total_steps),
    }

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
        # what test_accuracy and test_loss were measured on
        "evaluated_on": f"validation: {len(test):,} held-out training images" if cfg.validation else "test set",
    }
    first_epoch, epoch_state, start_loss = 1, None, None
    metrics: list[dict[str, Any]] = []
    if run is not None:
        state = load_checkpoint(run.path, warn=echo, missing_ok=True)
        if state is None:
            echo(f"{run.path} has no checkpoint yet (stopped before its first): training it from step 0")
        else:
            load_state(raw, state["model"], f"{run.path}'s checkpoint")
            optimizer.load_state_dict(state["optimizer"])
            load_schedule_state(scheduler, state["scheduler"])
            if ema is not None:
                if "ema" not in state:
                    raise CheckpointError(
                        f"{run.path}'s checkpoint has no moving average although the run keeps one (--ema); "
                        "train the run again into a new folder"
                    )
                ema.load_state_dict(state["ema"])
            restore_rng(state["rng"], generator)
            first_epoch = state["epoch"]
            start_loss = state.get("start_loss")
        covered = state.get("metrics_lines", first_epoch - 1) if state else 0
        metrics = run.read_metrics(lines=covered)
        if len(metrics) < covered:
            raise CheckpointError(
                f"{run.path / RunDir.METRICS} has {len(metrics)} epochs but the checkpoint covers {covered}; "
                "the run folder is damaged (train it again)"
            )
        if first_epoch - 1 > cfg.epochs:
            raise CnnlabError(
                f"--epochs {cfg.epochs} is fewer than the {first_epoch - 1} epochs {run.path} has done; "
                f"give --epochs {first_epoch - 1} or more"
            )
        if first_epoch > cfg.epochs:
            echo(f"{run.path} already finished its {cfg.epochs} epochs; nothing to resume")
            return run.read_summary() or summary
        if dist.main:
            run.write_metrics(metrics)  # cut back to what the checkpoint covers
            run.write_config(cfg, model_args, **record)
        summary["train_seconds"] = sum(m["epoch_seconds"] for m in metrics)
        if state is not None and state["step"] > 0:
            epoch_state = EpochState(
                state["order"],
                state["step"],
                state["loss_sum"],
                state["seconds"],
                state["images"],
                list(state["trace"]),
                start_loss,
            )
        if state is not None:
            echo(f"resuming {run.path} at epoch {first_epoch}, step {state['step']}")
    elif dist.main:
        run = RunDir.create(out, cfg)
        run.write_config(cfg, model_args, **record)
    summary["run_dir"] = str(run.path) if run else None

    model: nn.Module = raw
    if dist.enabled:
        model = nn.parallel.DistributedDataParallel(raw, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:
        model = cast(nn.Module, torch.compile(model))
    writer = tensorboard.open_writer(run.path / "tensorboard") if run and dist.main and cfg.tensorboard else None
    what = f"{cfg.model} ({params:,} params) on {cfg.dataset} ({len(train):,} images) on {device}"
    echo(
        f"training {what}{f' × {dist.world} processes' if dist.enabled else ''}; run folder {run.path if run else '-'}"
    )

    def save(epoch: int, estate: EpochState | None) -> None:
        if not dist.main or run is None:
            return
        state = {
            "model": raw.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": rng_state(generator),
            "epoch": epoch,
            "step": estate.step if estate else 0,
            "metrics_lines": len(metrics),  # the epochs of metrics.jsonl this checkpoint covers
            "start_loss": start_loss if estate is None else estate.start_loss,
        }
        if ema is not None:
            state["ema"] = ema.state_dict()
        if estate is not None:
            state.update(
                order=estate.order.cpu(),
                loss_sum=estate.loss_sum,
                seconds=estate.seconds,
                images=estate.images,
                trace=list(estate.trace),
            )
        save_checkpoint(run.path, state)

    def interrupted(epoch: int, st: EpochState) -> TrainingInterrupted:
        return TrainingInterrupted(
            f"interrupted at epoch {epoch}, step {st.step}; checkpoint saved; "
            f"continue with: cnnlab train --resume {run.path if run else 'RUN_DIR'}"
        )

    try:
        with _StopFlag() as stop:
            for epoch in range(first_epoch, cfg.epochs + 1):
                st = epoch_state or EpochState(torch.randperm(len(train), generator=generator), start_loss=start_loss)
                bar = tqdm(
                    total=len(train),
                    initial=min(len(train), st.step * cfg.batch_size),
                    unit="img",
                    unit_scale=True,
                    desc=f"epoch {epoch}/{cfg.epochs}",
                    disable=quiet or not dist.main,
                    leave=False,
                    dynamic_ncols=True,
                )
                with bar:
                    batches = epoch_batches(train, cfg, st, generator, augment, dist)
                    for part in _parts(batches, st.step, total_steps, cfg.checkpoint_every, stop):
                        st = train_one_epoch(model, optimizer, scheduler, part, cfg, st, epoch, dist, scaler, bar, ema)
                        if not stop.set and st.step < total_steps:
                            save(epoch, st)  # a mid-epoch checkpoint
                if stop.set:
                    save(epoch, st)
                    raise interrupted(epoch, st)
                start_loss = st.start_loss
                result = evaluate(ema.module if ema else model, test, cfg, dist)
                top = f"top{result['topk']}_accuracy"
                summary["train_seconds"] += st.seconds
                row = {
                    "epoch": epoch,
                    "train_loss": st.loss_sum / max(st.step, 1),
                    "test_loss": result["loss"],
                    "test_accuracy": result["accuracy"],
                    f"test_{top}": result[top],
                    "epoch_seconds": st.seconds,
                    "train_seconds": summary["train_seconds"],
                    "images_per_second": len(train) / st.seconds if st.seconds else 0.0,
                    "lr": optimizer.param_groups[0]["lr"],
                    "train_loss_trace": st.trace,
                }
                if ema is not None:  # the last weights too, so the log shows what the average adds
                    last = evaluate(model, test, cfg, dist)
                    row.update(last_weights_test_loss=last["loss"], last_weights_test_accuracy=last["accuracy"])
                metrics.append(row)
                summary.update(epochs=epoch, test_accuracy=result["accuracy"], test_loss=result["loss"])
                if dist.main and run is not None:
                    run.append_metrics(row)
                    save(epoch + 1, None)  # commits the line above: it covers len(metrics) lines
                    if writer is not None:
                        tensorboard.log_epoch(writer, raw, row, epoch)
                held = "val" if cfg.validation else "test"  # --validation: the test_* keys hold held-out figures
                echo(
                    f"epoch {epoch}/{cfg.epochs}  train loss {row['train_loss']:.4g}  {held} loss {result['loss']:.4g}  "
                    f"{held} acc {100 * result['accuracy']:.2f}%"
                    + (f" (last weights {100 * last['accuracy']:.2f}%)" if ema is not None else "")
                    + f"  ({st.seconds:.1f} s, {row['images_per_second']:,.0f} img/s)"
                )
                epoch_state = None
    except DivergedError as e:
        e.summary = {**summary, "status": "diverged", "error": str(e)}
        if dist.main and run is not None:
            run.write_summary(e.summary)
        raise
    except (TrainingInterrupted, KeyboardInterrupt) as e:
        if dist.main and run is not None:
            run.write_summary({**summary, "status": "interrupted"})
        if isinstance(e, TrainingInterrupted):
            e.summary = {**summary, "status": "interrupted"}
        raise
    finally:
        if writer is not None:
            writer.close()
    summary["images_per_second"] = sum(len(train) for _ in metrics) / max(
        sum(m["epoch_seconds"] for m in metrics), 1e-9
    )
    top_key = next((k for k in metrics[-1] if k.startswith("test_top")), None) if metrics else None
    if top_key:
        summary[top_key] = metrics[-1][top_key]
    summary["status"] = "finished"
    if dist.main and run is not None:
        run.save_weights(
            ema.module if ema else raw,
            metadata={
                "model": cfg.model,
                "config": json.dumps(cfg.to_dict()),
                "pipeline": json.dumps(record["pipeline"]),
            },
        )
        _write_curves(run, cfg, metrics, echo)
        run.write_summary(summary)
        if writer is not None:
            tensorboard.log_hparams(run.path / "tensorboard", cfg, summary)
    return summary


def _write_curves(run: RunDir, cfg: TrainConfig, metrics: list[dict[str, Any]], echo) -> None:
    try:
        plot_curves(
            metrics,
            run.path / RunDir.CURVES,
            title=f"{cfg.model} on {cfg.dataset}",
            label_smoothing=cfg.label_smoothing,
            reference=LECTURE_REFERENCE.get(cfg.dataset),
        )
    except MissingExtra as e:
        echo(f"note: {RunDir.CURVES} not written: {e}")
