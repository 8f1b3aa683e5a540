"""The examples in the docstrings run and give what they show (part of `make test`)."""

from __future__ import annotations

import doctest
import importlib
import inspect
import pydoc
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
WITH_EXAMPLES = sorted(
    ".".join(p.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
    for p in (SRC / "cnnlab").rglob("*.py")
    if p.name != "__main__.py" and ">>>" in p.read_text()
)


PACKAGES = ("cnnlab.conv", "cnnlab.data", "cnnlab.display", "cnnlab.models", "cnnlab.nn", "cnnlab.runs")
PACKAGES += ("cnnlab.size", "cnnlab.viz")


def test_the_examples_were_found():
    assert {"cnnlab.models.registry", "cnnlab.runs.pipeline", "cnnlab.device"} <= set(WITH_EXAMPLES)
    assert {"cnnlab.display", "cnnlab.conv.api", "cnnlab.size.report", "cnnlab.viz.render"} <= set(WITH_EXAMPLES)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_function_has_an_example(package):
    """What a notebook's help() shows: every function a package exports has a docstring with
    a ``>>>`` example (issue 18)."""
    module = importlib.import_module(package)
    functions = [n for n in module.__all__ if inspect.isfunction(getattr(module, n))]
    assert functions, package
    missing = [n for n in functions if ">>>" not in (inspect.getdoc(getattr(module, n)) or "")]
    assert not missing, f"{package}: no example in the docstring of {', '.join(missing)}"


def test_help_on_convolve_shows_every_method_and_mode():
    from cnnlab.conv import METHODS, MODES, convolve

    text = pydoc.render_doc(convolve, renderer=pydoc.plaintext)
    for name in ("auto", *METHODS, *MODES):
        lines = [line for line in text.splitlines() if f'``"{name}"``' in line]
        assert lines, f"help(convolve) does not describe {name!r}"
        assert len(lines[0].split(":", 1)[-1].strip()) > 10, f"{name!r} has no description: {lines[0]}"


@pytest.mark.parametrize("name", WITH_EXAMPLES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    result = doctest.testmod(
        importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (output above)"
