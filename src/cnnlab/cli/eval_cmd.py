"""``cnnlab eval``: reload a finished run's weights and measure them on the test set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnlab.cli.app import app
from cnnlab.cli.output import info, print_json


@app.command("eval")
def eval_(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `cnnlab train`.")],
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    data_dir: Annotated[Optional[str], typer.Option(help="Dataset folder.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON line of results.")] = False,
) -> None:
    """Evaluate a trained run on its dataset's test split."""
    from cnnlab.train.run import evaluate_run

    result = evaluate_run(run_dir, device=device, data_dir=data_dir)
    if json_out:
        print_json(result)
    else:
        info(
            f"{result['model']} on {result['dataset']}: test accuracy {100 * result['test_accuracy']:.2f}% "
            f"({result['correct']}/{result['total']}), test loss {result['test_loss']:.4f}"
        )
