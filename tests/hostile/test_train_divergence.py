"""Issue 14, item 3: divergence is a non-finite loss or one grown above 10× the run's start,
exit 3 with a "diverged" JSON line; non-finite flag values are refused before anything runs."""

from __future__ import annotations

import json
import math

import pytest
import torch

from cnnlab.errors import DivergedError
from cnnlab.train.loop import DIVERGENCE_FACTOR, EpochState, check_divergence
from tests.conftest import assert_one_line_error, run_cli


def test_a_loss_that_explodes_without_becoming_nan_is_divergence(tmp_path):
    out = tmp_path / "run"
    proc = run_cli(
        "train", "--epochs", "2", "--train-subset", "2000", "--test-subset", "200", "--lr", "1e6",
        "--device", "cpu", "--out", str(out), "--json", "-q",
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert_one_line_error(proc, "training diverged", "--lr 1e+06 now, try --lr 100000")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "diverged" and "diverged" in result["error"]
    assert json.loads((out / "summary.json").read_text())["status"] == "diverged"
    assert not (out / "model.safetensors").exists()  # a diverged run leaves no weights that look finished


def test_the_rule_at_a_sync_point():
    state = EpochState(torch.arange(4), start_loss=2.3)
    check_divergence(2.3 * DIVERGENCE_FACTOR, state, "1-25", 1, 1e-3)  # at the limit: fine
    check_divergence(0.01, state, "1-25", 1, 1e-3)
    with pytest.raises(DivergedError, match=r"rose to 23\.1, over 10× its start \(2\.3\) in steps 1-25 of epoch 1"):
        check_divergence(23.1, state, "1-25", 1, 1e-3)
    for bad in (math.nan, math.inf):
        with pytest.raises(DivergedError, match=rf"became {bad}"):
            check_divergence(bad, EpochState(torch.arange(4)), "1-25", 1, 1e-3)


@pytest.mark.parametrize(
    "flag, value", [("--lr", "inf"), ("--lr", "nan"), ("--weight-decay", "inf"), ("--label-smoothing", "nan")]
)
def test_non_finite_flags_are_refused_up_front(tmp_path, flag, value):
    out = tmp_path / "run"
    proc = run_cli("train", flag, value, "--out", str(out), "--device", "cpu", "-q")
    assert_one_line_error(proc, f"{flag} must be a finite number, got {value}")
    assert proc.returncode == 2 and not out.exists()
