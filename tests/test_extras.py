"""Optional dependencies (serve, tensorboard, plot) missing: one line naming the extra."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cnnlab.extras import MissingExtra, require


def cli_without(module: str, *args: str) -> subprocess.CompletedProcess:
    """``cnnlab ARGS`` in a fresh process where ``import MODULE`` fails, as if not installed."""
    code = f"import sys; sys.modules[{module!r}] = None; from cnnlab.cli import main; sys.exit(main({list(args)!r}))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_require_names_the_extra():
    with pytest.raises(
        MissingExtra, match=r"--tensorboard needs no_such_module_x, .*pip install 'cnnlab\[tensorboard\]'"
    ):
        require("no_such_module_x", "tensorboard", "--tensorboard")


@pytest.mark.parametrize(
    "module, args, extra",
    [
        ("fastapi", ["serve", "lenet5"], "serve"),
        ("matplotlib", ["viz", "filters", "lenet5", "-o", "never.png"], "plot"),
        (
            "tensorboard",
            ["train", "--tensorboard", "--epochs", "1", "--train-subset", "64", "--device", "cpu"],
            "tensorboard",
        ),
    ],
)
def test_a_missing_extra_is_one_line(module, args, extra, tmp_path):
    proc = cli_without(module, *args, *(["--out", str(tmp_path / "run")] if args[0] == "train" else []))
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("cnnlab: error: ") and f"pip install 'cnnlab[{extra}]'" in lines[0], lines[0]
    assert not (tmp_path / "run").exists()
