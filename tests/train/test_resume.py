"""Resumable runs: SIGKILL mid-epoch and Ctrl-C, then --resume, give the same weights as an
uninterrupted run; a damaged checkpoint falls back to the previous one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import safetensors.torch
import torch

from cnnlab.errors import CheckpointError
from cnnlab.train.checkpoint import CHECKPOINT, PREVIOUS, load_checkpoint
from tests.conftest import run_cli

ARGS = [
    "--train-subset",
    "6000",
    "--test-subset",
    "500",
    "--epochs",
    "2",
    "--batch-size",
    "64",
    "--checkpoint-every",
    "5",
    "--device",
    "cpu",
    "--quiet",
    "--augment",
    "shift",
    "--model",
    "mnist-fast",
]


def weights(run):
    return safetensors.torch.load_file(str(run / "model.safetensors"))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    proc = run_cli("train", *ARGS, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def _start(out):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "cnnlab", "train", *ARGS, "--out", str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_mid_epoch_checkpoint(out, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (out / CHECKPOINT).exists():
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("no checkpoint appeared")


def test_sigkill_mid_epoch_then_resume_gives_identical_weights(uninterrupted, tmp_path):
    out = tmp_path / "killed"
    proc = _start(out)
    _wait_for_mid_epoch_checkpoint(out, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = load_checkpoint(out)
    assert state["epoch"] == 1 and 0 < state["step"] < 94  # killed mid-epoch (94 steps per epoch)
    resumed = run_cli("train", "--resume", str(out), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout
    a, b = weights(uninterrupted), weights(out)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [line.count('"epoch"') for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 1]


def test_ctrl_c_saves_and_exits_cleanly_then_resumes(uninterrupted, tmp_path):
    out = tmp_path / "interrupted"
    proc = _start(out)
    _wait_for_mid_epoch_checkpoint(out, proc)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted at epoch" in stderr and "cnnlab train --resume" in stderr
    assert run_cli("train", "--resume", str(out), "--quiet").returncode == 0
    a, b = weights(uninterrupted), weights(out)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_damaged_checkpoint_falls_back_to_the_previous_one(uninterrupted, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(uninterrupted, run)
    good_prev = torch.load(run / PREVIOUS, weights_only=True)
    (run / CHECKPOINT).write_bytes((run / CHECKPOINT).read_bytes()[:5000])  # truncated
    warnings = []
    state = load_checkpoint(run, warn=warnings.append)
    assert state["epoch"] == good_prev["epoch"] and "damaged" in warnings[0]
    (run / PREVIOUS).write_bytes(b"garbage")
    with pytest.raises(
        CheckpointError, match=r"cannot resume .*checkpoint.pt is .*checkpoint.prev.pt is .*into a new folder"
    ):
        load_checkpoint(run, warn=warnings.append)
    finished = run_cli("train", "--resume", str(uninterrupted), "--quiet")
    assert finished.returncode == 0 and "already finished" in finished.stdout
