"""The lecture notebooks (issue 18): every one runs top to bottom, and what it stores is fresh.

Each notebook is executed once (``notebooks/build.py``'s kernel: this interpreter, no network)
and checked three ways: its cells are the ones ``notebooks/src/NAME.py`` makes, no cell
raises, and the re-executed text outputs equal the stored ones, cell by cell (with every
number masked in cells tagged ``nondeterministic``: timings, trained accuracies). Images are
compared by presence and type, not by their bytes. A failure says to run ``make notebooks``.
"""

from __future__ import annotations

import copy
import importlib.util
import re
import tempfile
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
_spec = importlib.util.spec_from_file_location("notebooks_build", NOTEBOOKS / "build.py")
assert _spec is not None and _spec.loader is not None
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)

LECTURE_ORDER = [
    "01_convolution",
    "02_layers_and_invariance",
    "03_lenet",
    "04_size",
    "05_what_networks_learn",
    "06_scale",
]
# a number with the spaces before it: a width-padded column ({:7.1f}) pads 9.9 and 10.0 differently
NUMBER = re.compile(r" *[-+−]?\d[\d,]*(\.\d+)?([eE][-+]?\d+)?")
# always volatile: temporary folders (a new name every run) and pictures inlined in HTML
VOLATILE = [
    (re.compile(re.escape(tempfile.gettempdir()) + r"/[^\s<>\"'&]+"), "$TMP"),
    (re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+"), "data:image/png;base64,…"),
]
TEXT_TYPES = ("text/plain", "text/html", "text/markdown", "text/latex")


def _cell_key(cell) -> tuple:
    meta = {k: cell.metadata[k] for k in ("tags", "jupyter") if k in cell.metadata}
    return cell.cell_type, cell.source, meta


def _texts(cell) -> list[tuple]:
    """What a reader sees of a code cell's outputs, as comparable text: streams (consecutive
    writes to one stream joined), each display's text forms and the types of its images, errors."""
    masked = build.NONDETERMINISTIC in cell.metadata.get("tags", [])

    def mask(text: str) -> str:
        for pattern, stand_in in VOLATILE:
            text = pattern.sub(stand_in, text)
        return NUMBER.sub(" N", text) if masked else text

    out: list[tuple] = []
    for o in cell.get("outputs", []):
        if o.output_type == "stream":
            if out and out[-1][:2] == ("stream", o.name):
                out[-1] = ("stream", o.name, out[-1][2] + o.text)
            else:
                out.append(("stream", o.name, o.text))
        elif o.output_type in ("execute_result", "display_data"):
            out.append((o.output_type, sorted(o.data), *(o.data.get(t, "") for t in TEXT_TYPES)))
        else:
            out.append((o.output_type, o.get("ename"), o.get("evalue")))
    return [tuple(mask(v) if isinstance(v, str) else v for v in item) for item in out]


def test_one_stored_notebook_per_part_of_the_lecture():
    assert build.names() == LECTURE_ORDER
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == LECTURE_ORDER, "run `make notebooks`"


@pytest.mark.parametrize("name", LECTURE_ORDER)
def test_notebook_runs_and_its_stored_outputs_are_fresh(name):
    stored = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    seconds = build.stored_runtime(stored)
    assert seconds is not None, f"{name}: the first line must say 'Runs in N s on a 2-core CPU'"
    expected = build.new_notebook(name)
    build.set_runtime(expected, seconds)
    assert [_cell_key(c) for c in stored.cells] == [_cell_key(c) for c in expected.cells], (
        f"{name}.ipynb's cells are not notebooks/src/{name}.py's: run `make notebooks`"
    )
    code = [c for c in stored.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), f"{name}.ipynb is stored unexecuted: run `make notebooks`"
    assert not any(o.output_type == "error" for c in code for o in c.outputs), f"{name}.ipynb stores an error"

    rerun = copy.deepcopy(stored)
    for cell in rerun.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    build.execute(rerun)  # raises nbclient's CellExecutionError, with the cell and traceback, on any error

    for i, (old, new) in enumerate(zip(stored.cells, rerun.cells)):
        if old.cell_type == "code":
            assert _texts(new) == _texts(old), (
                f"{name} cell {i} ({old.source.splitlines()[0]!r}): its outputs are not the stored ones; "
                "run `make notebooks` (or tag the cell nondeterministic if its numbers vary by nature)"
            )


def test_the_masks_see_what_they_should():
    cell = nbformat.v4.new_code_cell("x", metadata={"tags": [build.NONDETERMINISTIC]})
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="epoch 1: 98.5% in 3.2 s, "),
        nbformat.v4.new_output("stream", name="stdout", text="1,234 img/s, loss -1e-3\n"),
    ]
    other = copy.deepcopy(cell)
    other.outputs[0].text = "epoch 2: 99.25% in 12 s, "
    assert _texts(cell) == _texts(other) == [("stream", "stdout", "epoch N: N% in N s, N img/s, loss N\n")]
    other.outputs[1].text = "1,234 img/s, gain 3\n"
    assert _texts(cell) != _texts(other)  # words are compared even where numbers are masked
    other.outputs[1].text = "   1,234 img/s, loss 0.002\n"  # a padded column: the spaces go with the number
    assert _texts(cell) == _texts(other)
    other.outputs[1].text = "1,234 img/s, gain 3\n"
    assert _texts(cell) != _texts(other)  # words are compared even where numbers are masked
    del cell.metadata["tags"], other.metadata["tags"]
    other.outputs[0].text, other.outputs[1].text = "epoch 1: 98.6% in 3.2 s, ", cell.outputs[1].text
    assert _texts(cell) != _texts(other)  # untagged: every digit counts
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=f"{tempfile.gettempdir()}/cnnlab-a1b2c3d4/run\n")
    ]
    other.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=f"{tempfile.gettempdir()}/cnnlab-e5f6_7h8/run\n")
    ]
    assert _texts(cell) == _texts(other) == [("stream", "stdout", "$TMP\n")]
