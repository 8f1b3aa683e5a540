"""``cnnlab train``: train a model on a dataset and write a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnlab.cli import checks
from cnnlab.cli.app import MaxMemory, app
from cnnlab.cli.output import info, percent, print_json
from cnnlab.errors import CnnlabError
from cnnlab.train.distributed import is_main_process

# flags that may go with --resume (the run's own config gives everything else)
RESUME_FLAGS = {"resume", "epochs", "device", "data_dir", "json_out", "quiet", "max_memory"}


def _given(ctx: typer.Context, name: str | None) -> bool:
    """Whether flag ``name`` was typed on the command line (not a default)."""
    source = ctx.get_parameter_source(name) if name else None
    return getattr(source, "name", "") == "COMMANDLINE"  # typer's own copy of click's ParameterSource


@app.command()
def train(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="Model name (see `cnnlab models`).")] = "lenet5",
    dataset: Annotated[
        str, typer.Option(help="mnist, fashion-mnist, cifar10, cifar100 or imagefolder (with --data-dir).")
    ] = "mnist",
    epochs: Annotated[Optional[int], typer.Option(help="Passes over the training set [model's recipe].")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Images per step [model's recipe].")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate [model's recipe].")] = None,
    optimizer: Annotated[Optional[str], typer.Option(help="adamw or sgd [model's recipe].")] = None,
    weight_decay: Annotated[Optional[float], typer.Option(help="Weight decay [model's recipe].")] = None,
    momentum: Annotated[
        Optional[float], typer.Option(help="SGD momentum or AdamW's beta1 (onecycle cycles it) [model's recipe].")
    ] = None,
    beta2: Annotated[Optional[float], typer.Option(help="AdamW's beta2 [model's recipe].")] = None,
    cycle_momentum: Annotated[
        Optional[bool],
        typer.Option(
            "--cycle-momentum/--no-cycle-momentum",
            help="onecycle also cycles the momentum 0.95 → 0.85 → 0.95; --no-cycle-momentum keeps --momentum [model's recipe].",
        ),
    ] = None,
    schedule: Annotated[Optional[str], typer.Option(help="onecycle, cosine or constant [model's recipe].")] = None,
    label_smoothing: Annotated[
        Optional[float], typer.Option(help="Cross-entropy label smoothing [model's recipe].")
    ] = None,
    ema: Annotated[
        Optional[float],
        typer.Option(
            help="Evaluate and save an exponential moving average of the weights with this decay per step, warmed up (step n uses min(DECAY, n/(n+9))); 0.999 averages about the last 1,000 steps of a long run; 0: off [model's recipe]."
        ),
    ] = None,
    augment: Annotated[
        Optional[str],
        typer.Option(
            help="none, shift (±2 px), shift1, shift3, affine (±10°, 0.9-1.1×, ±2 px), flip, shift+flip, flip+erase, shift+flip+erase (mirror flips and random erasing suit clothes and objects, not digits) [model's recipe]."
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option(min=0, max=2**63 - 1, help="Random seed (weights, shuffling, augmentation).")
    ] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    out: Annotated[Optional[Path], typer.Option("--out", help="Run folder [runs/MODEL-DATASET-TIME].")] = None,
    data_dir: Annotated[Optional[str], typer.Option(help="Dataset folder [$CNNLAB_DATA or ~/.cache/cnnlab].")] = None,
    train_subset: Annotated[
        Optional[int], typer.Option(help="Train on the first N images only (0: all) [all].")
    ] = None,
    test_subset: Annotated[
        Optional[int], typer.Option(help="Evaluate on the first N test images only (0: all) [all].")
    ] = None,
    validation: Annotated[
        Optional[int],
        typer.Option(
            help="Hold out N training images (a fixed draw) and report accuracy on them, not on the test set: for choosing a recipe [0: off]."
        ),
    ] = None,
    channels_last: Annotated[Optional[bool], typer.Option(help="NHWC memory format [model's recipe].")] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads (0: torch default) [model's recipe].")] = None,
    amp: Annotated[Optional[str], typer.Option(help="Autocast precision: none, bf16 or fp16 [model's recipe].")] = None,
    compile: Annotated[
        Optional[bool], typer.Option("--compile/--no-compile", help="torch.compile the model [model's recipe].")
    ] = None,
    checkpoint_every: Annotated[
        Optional[int], typer.Option(help="Checkpoint every N steps too (0: epoch ends only) [0].")
    ] = None,
    resize: Annotated[
        Optional[int], typer.Option(help="Resize images to N×N (gray becomes RGB for 3-channel models) [no resize].")
    ] = None,
    workers: Annotated[
        Optional[int], typer.Option(help="DataLoader workers for image folders [CPU cores, at most 8].")
    ] = None,
    tensorboard: Annotated[
        Optional[bool],
        typer.Option("--tensorboard/--no-tensorboard", help="TensorBoard logs in RUN_DIR/tensorboard [off]."),
    ] = None,
    resume: Annotated[
        Optional[Path],
        typer.Option(
            help="Continue RUN_DIR from its last checkpoint with its own config (only --epochs N to extend it, --device, --data-dir) [none: a new run]."
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="End stdout with one JSON line of results.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bars (there are none unless stderr is a terminal).")
    ] = False,
    max_memory: MaxMemory = None,
) -> None:
    """Train a model; print one line per epoch and the final test accuracy.

    Example: cnnlab train --model lenet5 --dataset mnist --epochs 5

    Many processes: torchrun --nproc-per-node 2 -m cnnlab train ...
    """
    if resize:  # estimated before any data is loaded (issue 14)
        checks.resize_size(model, dataset, resize, batch_size)
    from cnnlab.train.run import config_for, run_training

    if resume is not None:
        given = [p.opts[0] for p in ctx.command.params if p.name not in RESUME_FLAGS and _given(ctx, p.name)]
        if given:
            raise CnnlabError(
                f"--resume continues {resume} with its own config; drop {', '.join(given)} "
                "(only --epochs N, --device and --data-dir may change)"
            )
    cfg = None
    if resume is None:
        cfg = config_for(
            model,
            dataset=dataset,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            optimizer=optimizer,
            weight_decay=weight_decay,
            momentum=momentum,
            beta2=beta2,
            cycle_momentum=cycle_momentum,
            schedule=schedule,
            label_smoothing=label_smoothing,
            ema=ema,
            augment=augment,
            seed=seed,
            device=device,
            data_dir=data_dir,
            train_subset=train_subset,
            test_subset=test_subset,
            validation=validation,
            channels_last=channels_last,
            threads=threads,
            amp=amp,
            compile=compile,
            checkpoint_every=checkpoint_every,
            resize=resize,
            workers=workers,
            tensorboard=tensorboard,
        )
    else:
        cfg = config_for(device=device, data_dir=data_dir)
    try:
        summary = run_training(
            cfg,
            out=out,
            quiet=quiet or checks.no_terminal(),  # progress bars on a terminal only, never in a log
            echo=info,
            resume=resume,
            epochs=epochs if resume else None,
        )
    except CnnlabError as e:
        if json_out and getattr(e, "summary", None) and is_main_process():
            print_json(e.summary)  # type: ignore[attr-defined]  # "status": "diverged" / "interrupted"
        raise
    if not is_main_process():
        return  # under torchrun only rank 0 reports
    if summary.get("test_accuracy") is None:
        info(f"{summary.get('run_dir')}: no epoch finished")
        return
    held = "validation" if summary.get("evaluated_on", "test set") != "test set" else "test"
    info(
        f"{held} accuracy {percent(summary['test_accuracy'])} after {summary['epochs']} epoch{'s' * (summary['epochs'] != 1)}, "
        f"{summary['train_seconds']:.1f} s of training; run folder {summary['run_dir']}"
    )
    if json_out:
        print_json(summary)
