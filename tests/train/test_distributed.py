"""Two gloo processes under torchrun equal one process with the same global batch."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import safetensors.torch
import torch

from tests.conftest import run_cli

ARGS = [
    "--model",
    "lenet5",
    "--train-subset",
    "2000",
    "--test-subset",
    "500",
    "--epochs",
    "1",
    "--batch-size",
    "64",
    "--device",
    "cpu",
    "--quiet",
    "--threads",
    "1",
]


def test_two_processes_equal_one_with_the_same_global_batch(tmp_path):
    single = tmp_path / "single"
    assert run_cli("train", *ARGS, "--out", str(single)).returncode == 0
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or "torchrun"
    ddp = tmp_path / "ddp"
    proc = subprocess.run(
        [
            torchrun,
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "cnnlab",
            "train",
            *ARGS,
            "--out",
            str(ddp),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count('"test_accuracy"') == 1  # only rank 0 prints the result
    a = safetensors.torch.load_file(str(single / "model.safetensors"))
    b = safetensors.torch.load_file(str(ddp / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=2e-5, rtol=1e-4)
    # only rank 0 wrote: one run folder, one metrics line per epoch
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp", "single"]
    assert len((ddp / "metrics.jsonl").read_text().splitlines()) == 1
    assert not (tmp_path / "runs").exists()
