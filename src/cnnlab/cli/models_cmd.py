"""``cnnlab models``: list the model zoo."""

from __future__ import annotations

from typing import Annotated

import typer

from cnnlab.cli.app import app
from cnnlab.cli.output import info, print_json


@app.command()
def models(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List every model cnnlab can build, with its input and parameter count."""
    from cnnlab.models import get_spec, list_models

    rows = []
    for name in list_models():
        spec = get_spec(name)
        shape = "×".join(map(str, spec.input_shape)) if spec.input_shape else f"any C×H×W, H,W ≥ {spec.min_size}"
        rows.append({"name": name, "input": shape, "summary": spec.summary})
    if json_out:
        print_json(rows)
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        info(f"{r['name']:<{width}}  {r['summary']}  [input: {r['input']}]")
