"""Issue 14, item 2 (run-folder part): a run goes only into a new or empty folder, and the
end-of-epoch metrics line and checkpoint are committed so that no kill duplicates or loses an epoch."""

from __future__ import annotations

import json

import pytest
import safetensors.torch
import torch

from cnnlab.errors import CnnlabError
from cnnlab.train import run as train_run
from cnnlab.train.run import config_for, run_training
from tests.conftest import assert_one_line_error, run_cli

TINY = dict(epochs=2, train_subset=256, test_subset=100, batch_size=32, device="cpu", checkpoint_every=3)


def test_a_folder_with_the_users_files_is_refused_and_left_untouched(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"my own weights")
    (out / "metrics.jsonl").write_text('{"mine": 1}\n')
    proc = run_cli("train", "--out", str(out), "--epochs", "1", "--train-subset", "64", "--device", "cpu", "-q")
    assert_one_line_error(proc, f"--out {out} is not empty", "metrics.jsonl, model.safetensors", "not a cnnlab run")
    assert proc.returncode == 2
    assert (out / "model.safetensors").read_bytes() == b"my own weights"
    assert (out / "metrics.jsonl").read_text() == '{"mine": 1}\n'
    assert sorted(p.name for p in out.iterdir()) == ["metrics.jsonl", "model.safetensors"]


def test_an_empty_folder_is_fine_and_a_run_folder_points_to_resume(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    run_training(config_for("lenet5", **{**TINY, "epochs": 1}), out=out, quiet=True, echo=lambda s: None)
    assert (out / "model.safetensors").is_file()
    with pytest.raises(CnnlabError, match=rf"--out {out} already holds a run; continue it with --resume {out}"):
        run_training(config_for("lenet5", **TINY), out=out, quiet=True, echo=lambda s: None)


class Killed(BaseException):
    """Stands for SIGKILL: no except clause in cnnlab catches it, so nothing is cleaned up."""


def test_a_kill_between_the_metrics_line_and_the_checkpoint_neither_loses_nor_repeats_an_epoch(tmp_path, monkeypatch):
    reference = tmp_path / "reference"
    run_training(config_for("lenet5", **TINY), out=reference, quiet=True, echo=lambda s: None)

    out = tmp_path / "killed"
    real_save = train_run.save_checkpoint

    def save(path, state):
        if state["epoch"] == 2 and state["step"] == 0:  # epoch 1's end: its metrics line is already written
            raise Killed
        real_save(path, state)

    monkeypatch.setattr(train_run, "save_checkpoint", save)
    with pytest.raises(Killed):
        run_training(config_for("lenet5", **TINY), out=out, quiet=True, echo=lambda s: None)
    assert [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1]
    monkeypatch.setattr(train_run, "save_checkpoint", real_save)

    run_training(None, resume=out, quiet=True, echo=lambda s: None)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    ref_rows = [json.loads(line) for line in (reference / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert [r["test_accuracy"] for r in rows] == [r["test_accuracy"] for r in ref_rows]
    assert [r["train_loss_trace"] for r in rows] == [r["train_loss_trace"] for r in ref_rows]
    a = safetensors.torch.load_file(str(reference / "model.safetensors"))
    b = safetensors.torch.load_file(str(out / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
