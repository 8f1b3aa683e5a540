"""``cnnlab experiment``: runnable versions of the lecture's claims."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnlab import atomic, limits, outputs
from cnnlab.cli import checks
from cnnlab.cli.app import MaxMemory, app
from cnnlab.cli.output import info

RESULTS = ("results.json", "invariance.png")  # what the experiment writes into --out

experiment_app = typer.Typer(help="Experiments that test the lecture's claims.", no_args_is_help=True)
app.add_typer(experiment_app, name="experiment")


@experiment_app.command()
def invariance(
    out: Annotated[Path, typer.Option("--out", help="Folder for results.json and invariance.png.")] = Path(
        "runs/invariance"
    ),
    epochs: Annotated[int, typer.Option(help="Epochs per model and setting.")] = 4,
    train_size: Annotated[int, typer.Option(help="Training images (of 60,000).")] = 20000,
    test_size: Annotated[int, typer.Option(help="Test images (of 10,000).")] = 10000,
    canvas: Annotated[int, typer.Option(help="Canvas side the digits are placed on.")] = 40,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    data_dir: Annotated[Optional[str], typer.Option(help="Dataset folder [$CNNLAB_DATA or ~/.cache/cnnlab].")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the results already in --out.")] = False,
    max_memory: MaxMemory = None,
) -> None:
    """Fully connected vs locally connected vs conv nets, on registered and translated digits."""
    from cnnlab.errors import CnnlabError
    from cnnlab.experiments.invariance import InvarianceConfig, memory_bytes, plot, run

    if canvas < 28:
        raise CnnlabError(f"--canvas must be at least 28 (the digits are 28×28), got {canvas}")
    if not (1 <= train_size <= 60000 and 1 <= test_size <= 10000 and epochs >= 1):
        raise CnnlabError("--train-size must be 1-60000, --test-size 1-10000 and --epochs at least 1")
    checks.seed(seed)
    # everything that can fail without training fails before it (six models take minutes)
    outputs.output_dir(out, "--out", create=False)
    existing = outputs.existing_outputs(out, RESULTS)
    if existing and not force:
        raise CnnlabError(
            f"--out {out} already holds {' and '.join(existing)} from an earlier run; pass --force to replace them, "
            "or give another --out"
        )
    for name in RESULTS:
        if os.path.lexists(out / name):
            outputs.output_file(out / name, "--out")
    cfg = InvarianceConfig(
        canvas=canvas, train_size=train_size, test_size=test_size, epochs=epochs, seed=seed, data_dir=data_dir
    )
    limits.check(
        memory_bytes(cfg), f"--canvas {canvas} with --train-size {train_size}", "lower --canvas or --train-size"
    )
    result = run(cfg, log=info)
    outputs.output_dir(out, "--out")
    atomic.write_json(out / "results.json", result)
    plot(result, out / "invariance.png")
    info("")
    info(f"{'model':14} {'trained on':11} {'params':>10}  {'test registered':>15}  {'test translated':>15}")
    for r in result["rows"]:
        info(
            f"{r['model']:14} {r['trained_on']:11} {r['params']:>10,}  {100 * r['test_registered']:14.2f}%  {100 * r['test_translated']:14.2f}%"
        )
    info("")
    for line in result["findings"]:
        info("- " + line)
    info(f"\nwrote {out / 'results.json'} and {out / 'invariance.png'}")
