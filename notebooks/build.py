"""Build the lecture notebooks from their sources, execute them, and store them with outputs.

    python notebooks/build.py                 # all six (make notebooks)
    python notebooks/build.py 03_lenet        # one

Each notebook's cells live in ``notebooks/src/NAME.py`` in the "percent" format (jupytext's,
read here without it): ``# %%`` starts a code cell, ``# %% [markdown]`` a markdown cell whose
lines are written as comments (and a commented ``# %magic`` is the magic). After the marker, ``tags=["nondeterministic"]`` tags a cell
whose printed numbers legitimately vary between runs (timings, trained accuracies: the
freshness test compares them with every number masked) and ``hidden`` collapses a cell
(the lecture's homework answers). The first markdown line is ``Runs in {seconds} s on a
2-core CPU``; the build fills in the seconds it measured.

The stored ``.ipynb`` keeps no volatile metadata (no execution timestamps, no Python patch
version), so rebuilding an unchanged notebook changes nothing but what really changed.
``tests/test_notebooks.py`` executes every stored notebook once and checks that its sources
are this folder's sources and that its text outputs are the stored ones.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
NONDETERMINISTIC = "nondeterministic"
RUNTIME = re.compile(r"Runs in (\{seconds\}|\d+) s on a 2-core CPU")
CELL_TIMEOUT = 1800  # seconds per cell: generous, since a loaded machine (load 8 on 2 cores) stretched LeNet-5 to 10 min
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
MAGIC = re.compile(r"^# (%[a-z].*)$", re.M)
MARKER = re.compile(r"^# %%(?P<markdown> \[markdown\])?(?P<rest>.*)$")


def names() -> list[str]:
    """The notebooks, in lecture order: ``01_convolution``, ..."""
    return sorted(p.stem for p in SOURCES.glob("[0-9][0-9]_*.py"))


def read_cells(path: Path) -> list[nbformat.NotebookNode]:
    """The cells of a percent-format source file (see the module doc)."""
    cells: list[nbformat.NotebookNode] = []
    kind, meta, lines = None, {}, []

    def flush() -> None:
        if kind is None:
            return
        text = "\n".join(lines).strip("\n")
        if kind == "markdown":
            text = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in text.split("\n"))
            cells.append(nbformat.v4.new_markdown_cell(text, metadata=meta))
        else:
            text = MAGIC.sub(r"\1", text)  # "# %matplotlib inline" in the source is the magic in the notebook
            cells.append(nbformat.v4.new_code_cell(text, metadata=meta))

    for line in path.read_text().split("\n"):
        m = MARKER.match(line)
        if not m:
            if kind is not None:
                lines.append(line)
            continue
        flush()
        kind, meta, lines = ("markdown" if m["markdown"] else "code"), {}, []
        rest = m["rest"].strip()
        if "hidden" in rest.split():
            meta["jupyter"] = {"source_hidden": True, "outputs_hidden": False}
        tags = re.search(r"tags=(\[.*?\])", rest)
        if tags:
            meta["tags"] = json.loads(tags[1])
    flush()
    return cells


def new_notebook(name: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=read_cells(SOURCES / f"{name}.py"))
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    return nb


class _ThisPython(AsyncKernelManager):
    """A kernel running this very interpreter (the project's venv, with cnnlab and ipykernel),
    whatever kernels Jupyter may have registered elsewhere on the machine."""

    @property
    def kernel_spec(self) -> KernelSpec:  # pyright: ignore[reportIncompatibleVariableOverride]
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        return KernelSpec(argv=argv, display_name=KERNELSPEC["display_name"], language="python")


def kernel_env() -> dict[str, str]:
    """The environment the notebooks run in: no network (MNIST ships with cnnlab), no CUDA
    (the stated seconds are a CPU's), the repository's ``src`` first on the path."""
    env = dict(os.environ)
    env["CNNLAB_OFFLINE"] = "1"
    env["CUDA_VISIBLE_DEVICES"] = ""
    src = str(HERE.parent / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    env.pop("MPLBACKEND", None)  # the kernel's own inline backend
    # tqdm.auto (imported by scikit-image's data module) warns that ipywidgets is missing: it
    # is, on purpose (a progress bar widget is no output worth storing)
    env["PYTHONWARNINGS"] = ",".join(filter(None, [env.get("PYTHONWARNINGS"), "ignore:IProgress not found"]))
    return env


def execute(nb: nbformat.NotebookNode) -> float:
    """Run ``nb`` top to bottom in a fresh kernel, in place, in this folder (as Jupyter would:
    ``../benchmarks/results`` is where a notebook finds the measured figures; the notebooks
    write only to temporary folders); return the seconds it took. A cell that raises raises
    ``nbclient.exceptions.CellExecutionError``."""
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_manager_class=_ThisPython,
        resources={"metadata": {"path": str(HERE)}},
        record_timing=False,
    )
    start = time.perf_counter()
    client.execute(env=kernel_env())
    seconds = time.perf_counter() - start
    clean(nb)
    return seconds


def clean(nb: nbformat.NotebookNode) -> None:
    """Drop what changes on every run without meaning anything: timings, the Python patch version."""
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.pop("id", None)
    nb.nbformat, nb.nbformat_minor = 4, 4  # cell ids are nbformat 4.5: git diffs stay about content


def set_runtime(nb: nbformat.NotebookNode, seconds: float) -> None:
    first = nb.cells[0]
    assert first.cell_type == "markdown" and RUNTIME.search(first.source), "first cell: 'Runs in {seconds} s ...'"
    first.source = RUNTIME.sub(f"Runs in {max(1, round(seconds))} s on a 2-core CPU", first.source, count=1)


def stored_runtime(nb: nbformat.NotebookNode) -> int | None:
    m = RUNTIME.search(nb.cells[0].source) if nb.cells and nb.cells[0].cell_type == "markdown" else None
    return int(m[1]) if m and m[1].isdigit() else None


def write(nb: nbformat.NotebookNode, path: Path) -> None:
    """Atomically: a temporary file beside ``path``, then a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        nbformat.write(nb, f)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the finished kernels
    return usage.ru_utime + usage.ru_stime


def build(name: str) -> tuple[float, float]:
    """Execute and store one notebook; (wall seconds, CPU seconds of its kernel)."""
    nb = new_notebook(name)
    cpu = _children_cpu()
    seconds = execute(nb)
    set_runtime(nb, seconds)
    write(nb, HERE / f"{name}.ipynb")
    return seconds, _children_cpu() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help=f"notebooks to build [all: {', '.join(names())}]")
    args = ap.parse_args()
    unknown = sorted(set(args.names) - set(names()))
    if unknown:
        ap.error(f"unknown notebook {', '.join(unknown)}; choose from {', '.join(names())}")
    total = total_cpu = 0.0
    for name in args.names or names():
        seconds, cpu = build(name)
        total, total_cpu = total + seconds, total_cpu + cpu
        print(f"{name:28} {seconds:6.1f} s  ({cpu:6.1f} CPU s)", flush=True)
    print(f"{'total':28} {total:6.1f} s  ({total_cpu:6.1f} CPU s)")


if __name__ == "__main__":
    main()
