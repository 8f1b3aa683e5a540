"""Issue 14, item 4 (and the damaged-folder cases of --resume): a run with a config but no
checkpoint starts again from step 0 with its config; --epochs N extends a run; other flags
are refused; a garbage metrics line is one clear line."""

from __future__ import annotations

import json
import shutil

import pytest
import safetensors.torch
import torch

from cnnlab.train.run import config_for, run_training
from tests.conftest import assert_one_line_error, run_cli

TINY = dict(epochs=2, train_subset=256, test_subset=100, batch_size=32, device="cpu")


def weights(run):
    return safetensors.torch.load_file(str(run / "model.safetensors"))


def same(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("resume") / "run"
    run_training(config_for("lenet5", **TINY), out=out, quiet=True, echo=lambda s: None)
    return out


def test_a_run_killed_before_its_first_checkpoint_starts_again_from_step_0(finished, tmp_path):
    out = tmp_path / "early"
    out.mkdir()
    shutil.copy(finished / "config.json", out / "config.json")  # what a kill in the first second leaves
    proc = run_cli("train", "--resume", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    assert "no checkpoint yet" in proc.stdout and "from step 0" in proc.stdout
    assert same(weights(finished), weights(out))  # the stored config, from the start: the same run


def test_resume_with_epochs_extends_the_run(finished, tmp_path):
    out = tmp_path / "longer"
    shutil.copytree(finished, out)
    proc = run_cli("train", "--resume", str(out), "--epochs", "3", "-q", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "extending" in proc.stdout and "from 2 to 3 epochs" in proc.stdout and "schedule" in proc.stdout
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["epochs"] == 3
    stored = json.loads((out / "config.json").read_text())
    assert stored["config"]["epochs"] == 3 and stored["optimizer"]["total_steps"] == 3 * 8
    assert not same(weights(finished), weights(out))
    again = run_cli("train", "--resume", str(out), "--epochs", "3", "-q")  # nothing left to do
    assert again.returncode == 0 and "already finished" in again.stdout
    assert_one_line_error(run_cli("train", "--resume", str(out), "--epochs", "2", "-q"), "--epochs 2 is fewer than")


@pytest.mark.parametrize("flags", [["--lr", "0.1"], ["--model", "mnist-fast"], ["--seed", "3", "--batch-size", "8"]])
def test_other_flags_with_resume_are_refused(finished, flags):
    proc = run_cli("train", "--resume", str(finished), *flags)
    assert_one_line_error(proc, "--resume continues", "drop --", *[f for f in flags if f.startswith("--")])
    assert proc.returncode == 2


def test_a_garbage_metrics_line_is_one_clear_line(finished, tmp_path):
    out = tmp_path / "garbage"
    shutil.copytree(finished, out)
    lines = (out / "metrics.jsonl").read_text().splitlines()
    (out / "metrics.jsonl").write_text("\n".join(["{not json", *lines[1:]]) + "\n")
    proc = run_cli("train", "--resume", str(out), "--epochs", "3", "-q")
    assert_one_line_error(proc, "metrics.jsonl line 1 is not a metrics row", "damaged")
    (out / "metrics.jsonl").write_text('{"no_epoch": 1}\n' + "\n".join(lines[1:]) + "\n")
    assert_one_line_error(run_cli("train", "--resume", str(out), "--epochs", "3", "-q"), "line 1 is not a metrics row")
