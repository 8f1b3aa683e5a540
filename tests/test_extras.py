"""Optional dependencies (serve, tensorboard, plot) missing: one line naming the extra."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cnnlab.extras import MissingExtra, require

CASES = [
    ("fastapi", ["serve", "lenet5"], "serve"),
    ("matplotlib", ["viz", "filters", "lenet5", "-o", "never.png"], "plot"),
    (
        "tensorboard",
        ["train", "--tensorboard", "--epochs", "1", "--train-subset", "64", "--device", "cpu"],
        "tensorboard",
    ),
]

# One fresh process for every case (imports cost seconds each): before each command, ``import
# MODULE`` is made to fail, as if not installed; nothing of cnnlab's optional parts is imported yet.
SCRIPT = """
import contextlib, io, json, sys
from cnnlab.cli import main
results = []
for module, args in json.loads(sys.argv[1]):
    sys.modules[module] = None
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(args)
    del sys.modules[module]
    results.append([code, err.getvalue()])
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def missing(tmp_path_factory):
    """{module: (exit code, stderr, the run folder train was given)} for every case of CASES."""
    out = tmp_path_factory.mktemp("extras") / "run"
    calls = [(m, args + (["--out", str(out)] if args[0] == "train" else [])) for m, args, _ in CASES]
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(calls)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    return {m: (code, err, out) for (m, _), (code, err) in zip(calls, results)}


def test_require_names_the_extra():
    with pytest.raises(
        MissingExtra, match=r"--tensorboard needs no_such_module_x, .*pip install 'cnnlab\[tensorboard\]'"
    ):
        require("no_such_module_x", "tensorboard", "--tensorboard")


@pytest.mark.parametrize("module, args, extra", CASES)
def test_a_missing_extra_is_one_line(module, args, extra, missing):
    code, err, out = missing[module]
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("cnnlab: error: ") and f"pip install 'cnnlab[{extra}]'" in lines[0], lines[0]
    assert not out.exists()
