"""``cnnlab train``: train a model on a dataset and write a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnlab.cli.app import app
from cnnlab.cli.output import info, print_json


@app.command()
def train(
    model: Annotated[str, typer.Option(help="Model name (see `cnnlab models`).")] = "lenet5",
    dataset: Annotated[str, typer.Option(help="mnist or fashion-mnist.")] = "mnist",
    epochs: Annotated[Optional[int], typer.Option(help="Passes over the training set [model's recipe].")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Images per step [model's recipe].")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate [model's recipe].")] = None,
    optimizer: Annotated[Optional[str], typer.Option(help="adamw or sgd.")] = None,
    weight_decay: Annotated[Optional[float], typer.Option(help="Weight decay.")] = None,
    schedule: Annotated[Optional[str], typer.Option(help="onecycle, cosine or constant.")] = None,
    label_smoothing: Annotated[Optional[float], typer.Option(help="Cross-entropy label smoothing.")] = None,
    augment: Annotated[Optional[str], typer.Option(help="none, shift (±2 px), shift1, shift3.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed (weights, shuffling, augmentation).")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    out: Annotated[Optional[Path], typer.Option("--out", help="Run folder [runs/MODEL-DATASET-TIME].")] = None,
    data_dir: Annotated[Optional[str], typer.Option(help="Dataset folder [$CNNLAB_DATA or ~/.cache/cnnlab].")] = None,
    train_subset: Annotated[Optional[int], typer.Option(help="Train on the first N images only (0: all).")] = None,
    channels_last: Annotated[Optional[bool], typer.Option(help="NHWC memory format.")] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads (0: torch default).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="End stdout with one JSON line of results.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Train a model; print one line per epoch and the final test accuracy.

    Example: cnnlab train --model lenet5 --dataset mnist --epochs 5
    """
    from cnnlab.train.run import config_for, run_training

    cfg = config_for(
        model,
        dataset=dataset,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        optimizer=optimizer,
        weight_decay=weight_decay,
        schedule=schedule,
        label_smoothing=label_smoothing,
        augment=augment,
        seed=seed,
        device=device,
        data_dir=data_dir,
        train_subset=train_subset,
        channels_last=channels_last,
        threads=threads,
    )
    summary = run_training(cfg, out=out, quiet=quiet, echo=info)
    info(
        f"test accuracy {100 * summary['test_accuracy']:.2f}% after {summary['epochs']} epochs, "
        f"{summary['train_seconds']:.1f} s of training; run folder {summary['run_dir']}"
    )
    if json_out:
        print_json(summary)
