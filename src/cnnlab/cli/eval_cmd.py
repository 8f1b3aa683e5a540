"""``cnnlab eval``: top-1/top-5 accuracy and error, per-class accuracy and a confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnlab import outputs
from cnnlab.cli import checks
from cnnlab.cli.app import MaxMemory, app
from cnnlab.cli.output import info, loss, percent, print_json
from cnnlab.errors import CnnlabError
from cnnlab.train.evaluation import evaluate_model, evaluate_run

EVAL_BATCH = 100  # images per forward pass for --model


@app.command("eval")
def eval_(
    run_dir: Annotated[Optional[Path], typer.Argument(help="A run folder written by `cnnlab train`.")] = None,
    model: Annotated[
        Optional[str], typer.Option(help="Evaluate a registered model instead of a run (with --dataset) [none].")
    ] = None,
    weights: Annotated[
        Optional[str],
        typer.Option(help="Pretrained weights for --model, e.g. DEFAULT (downloaded by torchvision) [random weights]."),
    ] = None,
    dataset: Annotated[
        Optional[str],
        typer.Option(help="Dataset for --model: mnist, fashion-mnist, cifar10, cifar100, imagefolder [the run's]."),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    data_dir: Annotated[
        Optional[str],
        typer.Option(
            help="Dataset folder (for imagefolder: ROOT with train/ and val/) [$CNNLAB_DATA or ~/.cache/cnnlab]."
        ),
    ] = None,
    resize: Annotated[
        Optional[int], typer.Option(help="Resize images to N×N (--model; a run uses its own) [no resize].")
    ] = None,
    test_subset: Annotated[
        Optional[int], typer.Option(help="Evaluate the first N test images only (--model; a run uses its own) [all].")
    ] = None,
    confusion: Annotated[Optional[Path], typer.Option(help="Confusion-matrix PNG [RUN_DIR/confusion.png].")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON line of results.")] = False,
    max_memory: MaxMemory = None,
) -> None:
    """Evaluate a trained run (or --model NAME --dataset D) on the test split."""
    if run_dir is not None and model is not None:
        raise CnnlabError("give either a RUN_DIR or --model NAME, not both")
    for path in (confusion,) if confusion is not None else ():
        outputs.output_file(path, "--confusion")
    if run_dir is not None:
        checks.run_flags_agree(run_dir, dataset=dataset, test_subset=test_subset, resize=resize)
        result = evaluate_run(run_dir, device=device, data_dir=data_dir, confusion_png=confusion)
    elif model is not None:
        if dataset is None:
            raise CnnlabError("--model needs --dataset (e.g. --dataset imagefolder --data-dir IMAGENET)")
        if resize:  # estimated before any data is loaded (issue 14)
            checks.resize_size(model, dataset, resize, EVAL_BATCH, batch_flag=None)
        with checks.pretrained_weights(model, weights):
            result = evaluate_model(
                model,
                dataset,
                weights,
                data_dir,
                device,
                resize or 0,
                batch_size=EVAL_BATCH,
                test_subset=test_subset or 0,
                confusion_png=confusion,
            )
    else:
        raise CnnlabError("give a RUN_DIR from `cnnlab train`, or --model NAME --dataset D")
    if json_out:
        print_json({k: v for k, v in result.items() if k != "confusion"})
        return
    k = result["topk"]
    info(
        f"{result['model']} on {result['dataset']}: top-1 accuracy {percent(result['test_accuracy'])} "
        f"(error {percent(result['test_error'])}), top-{k} accuracy {percent(result[f'test_top{k}_accuracy'])} "
        f"(error {percent(result[f'test_top{k}_error'])}), test loss {loss(result['test_loss'])}, "
        f"{result['correct']}/{result['total']}"
    )
    worst = sorted(result["per_class_accuracy"].items(), key=lambda kv: kv[1])[:5]
    info("lowest per-class accuracy: " + ", ".join(f"{k} {percent(v)}" for k, v in worst))
    if result.get("confusion_png"):
        info(f"confusion matrix: {result['confusion_png']}")
