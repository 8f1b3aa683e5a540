"""``cnnlab size``: units, weights, connections, compute and memory per layer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnlab import atomic, limits, outputs
from cnnlab.cli.app import MaxMemory, app
from cnnlab.cli.output import info
from cnnlab.errors import CnnlabError
from cnnlab.runs import resolve

FORMATS = ("table", "markdown", "csv", "json")


def parse_shape(text: str) -> tuple[int, int, int]:
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").replace("×", ",").split(","))
    except ValueError:
        raise CnnlabError(f"--input {text!r} is not a shape; write C,H,W, e.g. 3,224,224") from None
    if len(shape) != 3 or min(shape) < 1:
        raise CnnlabError(f"--input {text!r} must be three positive sizes C,H,W, e.g. 1,28,28")
    c, h, w = shape
    return c, h, w


def model_for(target: str, input_text: str | None):
    """(model, name, input shape) from a registry name or a run folder (:func:`cnnlab.runs.resolve`)."""
    shape = parse_shape(input_text) if input_text else None
    source = f"--input {','.join(map(str, shape))}" if shape else None
    subject = resolve(target, input_shape=None if Path(target).is_dir() else shape, source=source)
    return subject.model, subject.name if subject.run else target, shape or subject.input_shape


def check_model_size(target: str, input_text: str | None, batch: int) -> None:
    """A registered model at --input: the fix names --input (size has no --resize), and the
    weights of a model that grows with its input are counted on meta before it is built."""
    from cnnlab.models import get_spec

    spec = get_spec(target)
    if input_text is None:
        return
    shape = parse_shape(input_text)
    given = f"--input {','.join(map(str, shape))}"
    spec.check_input(shape[0], shape[1:], source=given, fix="--input {c},{side},{side}")
    limits.check(
        limits.model_bytes(lambda: spec.build(num_classes=spec.num_classes, in_channels=shape[0], input_size=shape[1:]))
        + batch * limits.image_bytes(*shape[1:], shape[0], 4),
        f"{given} (the {target} weights for that input, and --batch {batch} inputs)",
        "give a smaller --input",
    )


@app.command()
def size(
    model: Annotated[str, typer.Argument(help="A model name (cnnlab models) or a run folder.")],
    input: Annotated[Optional[str], typer.Option("--input", help="Input C,H,W [the model's own].")] = None,
    batch: Annotated[int, typer.Option(help="Batch size for the memory figures.")] = 1,
    no_bias: Annotated[
        bool, typer.Option("--no-bias", help="Leave biases out of weights and connections (as the lecture's table).")
    ] = False,
    format: Annotated[str, typer.Option("--format", "-f", help="table, markdown, csv or json.")] = "table",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write the report to FILE [stdout].")] = None,
    plot: Annotated[
        Optional[Path], typer.Option(help="Also write a PNG of units, connections and weights per layer [none].")
    ] = None,
    max_memory: MaxMemory = None,
) -> None:
    """Per-layer size of a model: the lecture's units, weights and connections, plus MACs and memory.

    Example: cnnlab size lenet5 --no-bias
    """
    from cnnlab.size import analyze
    from cnnlab.size.plot import plot_report

    if format not in FORMATS:
        raise CnnlabError(f"--format {format!r} is not one of {', '.join(FORMATS)}")
    if batch < 1:
        raise CnnlabError(f"--batch must be at least 1, got {batch}")
    for path, flag in ((out, "--out"), (plot, "--plot")):
        if path is not None:
            outputs.output_file(path, flag)
    if not Path(model).is_dir():
        check_model_size(model, input, batch)
    net, name, shape = model_for(model, input)
    report = analyze(net, shape, batch=batch, count_bias=not no_bias, name=name)
    text = {"table": report.to_table, "markdown": report.to_markdown, "csv": report.to_csv, "json": report.to_json}[
        format
    ]()
    if out:
        atomic.write_text(out, text)
        info(f"wrote {out}")
    else:
        print(text, end="" if text.endswith("\n") else "\n")
    if plot:
        plot_report(report, plot)
        info(f"wrote {plot}", to_stderr=out is None and format in ("json", "csv"))
