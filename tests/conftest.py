"""Shared fixtures: real MNIST (loaded once), tiny generated IDX datasets, a CLI runner."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnlab.data.idx import encode_idx

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def mnist():
    from cnnlab.data import load_dataset

    return load_dataset("mnist")


def write_idx(path: Path, arr: np.ndarray, gz: bool = True) -> Path:
    data = encode_idx(arr)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.fixture
def idx_pair(tmp_path):
    """A tiny valid (images, labels) IDX pair: 12 random 28×28 images, labels 0..9."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    labels = (np.arange(12) % 10).astype(np.uint8)
    return (
        write_idx(tmp_path / "images-idx3-ubyte.gz", images),
        write_idx(tmp_path / "labels-idx1-ubyte.gz", labels),
        images,
        labels,
    )


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 300, fresh: bool = False):
    """Run ``cnnlab ARGS`` and return a CompletedProcess (returncode, stdout, stderr).

    In this process through :func:`cnnlab.cli.main` (a fresh ``python -m cnnlab`` costs
    seconds of imports each time), unless the test needs a process of its own: ``fresh=True``
    (signals, what a new interpreter prints), an ``env`` or a ``cwd``, or
    ``CNNLAB_TEST_SUBPROCESS=1`` in the environment to run every call as a subprocess.
    """
    if fresh or env or cwd or os.environ.get("CNNLAB_TEST_SUBPROCESS"):
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "cnnlab", *args],
            capture_output=True,
            text=True,
            env=full_env,
            cwd=cwd,
            timeout=timeout,
        )
    import contextlib
    import io

    import torch

    from cnnlab.cli import main

    out, err = io.StringIO(), io.StringIO()
    threads = torch.get_num_threads()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in args])
    finally:
        torch.set_num_threads(threads)  # a --threads flag must not outlive its command
    return subprocess.CompletedProcess(["cnnlab", *args], code, out.getvalue(), err.getvalue())


def assert_one_line_error(proc, *fragments: str) -> None:
    """A CLI failure: non-zero exit, one `cnnlab: error:` line on stderr, no traceback."""
    assert proc.returncode != 0, proc
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("cnnlab: error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
