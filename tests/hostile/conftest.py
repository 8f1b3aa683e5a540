"""Fixtures for the hostile-input tests (issue 14)."""

from __future__ import annotations

import pytest

from cnnlab.cli import main


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A LeNet-5 run trained for one epoch on 200 MNIST digits (a second or two)."""
    out = tmp_path_factory.mktemp("hostile") / "run"
    code = main(
        ["train", "--epochs", "1", "--train-subset", "200", "--test-subset", "100", "--device", "cpu"]
        + ["--out", str(out), "--quiet"]
    )
    assert code == 0
    return out
