"""Issue 14: a damaged run folder (a config.json of random bytes, weights of another shape)
is one clear line in every command that opens it, never a traceback."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import safetensors.torch
import torch

from cnnlab.errors import CheckpointError
from cnnlab.runs import Run
from cnnlab.train.run import config_for, run_training
from tests.conftest import assert_one_line_error, run_cli


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("damaged") / "run"
    cfg = config_for("lenet5", epochs=1, train_subset=128, test_subset=50, batch_size=64, device="cpu")
    run_training(cfg, out=out, quiet=True, echo=lambda s: None)
    return out


def commands(run):
    return [
        ["eval", str(run), "--device", "cpu"],
        ["size", str(run)],
        ["viz", "layers", str(run)],
        ["train", "--resume", str(run), "--epochs", "2", "-q"],
    ]


def test_a_config_of_random_bytes(finished, tmp_path):
    run = tmp_path / "bytes"
    shutil.copytree(finished, run)
    (run / "config.json").write_bytes(os.urandom(300) + b"\xff\xfe")
    for args in commands(run):
        assert_one_line_error(run_cli(*args), "config.json: unreadable run config", "damaged")


@pytest.mark.parametrize("record", ['{"config": 3}', "[1, 2]", '{"config": {"lr": "fast"}, "model_args": {}}'])
def test_a_config_of_the_wrong_shape(finished, tmp_path, record):
    run = tmp_path / "shape"
    shutil.copytree(finished, run)
    (run / "config.json").write_text(record)
    with pytest.raises(CheckpointError, match="unreadable run config"):
        Run.open(run)


def test_weights_of_another_shape_say_which_tensors(finished, tmp_path):
    run = tmp_path / "wrong"
    shutil.copytree(finished, run)
    state = safetensors.torch.load_file(str(run / "model.safetensors"))
    state["C1.weight"] = torch.zeros(6, 3, 5, 5)
    del state["output.bias"]
    safetensors.torch.save_file(state, str(run / "model.safetensors"))
    proc = run_cli("size", str(run))
    assert_one_line_error(
        proc, "does not fit model LeNet5", "missing output.bias", "C1.weight is 6×3×5×5 there, 6×1×5×5 in the model"
    )
    (run / "model.safetensors").write_bytes(b"")
    assert_one_line_error(run_cli("eval", str(run), "--device", "cpu"), "corrupt or truncated weights file")


def test_a_checkpoint_of_another_shape_on_resume(finished, tmp_path):
    run = tmp_path / "ckpt"
    shutil.copytree(finished, run)
    record = json.loads((run / "config.json").read_text())
    record["config"]["model"] = "mnist-fast"  # the folder's checkpoint holds a LeNet-5
    (run / "config.json").write_text(json.dumps(record))
    proc = run_cli("train", "--resume", str(run), "--epochs", "2", "-q")
    assert_one_line_error(proc, "checkpoint does not fit model MnistFast", "missing")


def test_a_damaged_checkpoint_is_one_line_in_whole_words(finished, tmp_path, capsys):
    from tests.hostile.inprocess import cli, one_line

    run = tmp_path / "cut"
    shutil.copytree(finished, run)
    good = (run / "checkpoint.pt").read_bytes()
    resume = ("train", "--resume", run, "-q", "--device", "cpu")
    for damaged, words in ((good[:3000], "cut off or damaged"), (b"", "empty or cut off")):
        (run / "checkpoint.pt").write_bytes(damaged)
        line = one_line(cli(capsys, *resume), f"checkpoint.pt is {words}", "--out NEW_DIR")  # no warning line
        assert "()" not in line and "trying" not in line and "miniz" not in line, line
    (run / "checkpoint.prev.pt").write_bytes(good)  # now there is one to fall back to
    r = cli(capsys, *resume)
    assert r.code == 0, r.err
    assert "checkpoint.pt is empty or cut off; trying checkpoint.prev.pt" in r.out
    assert "resuming from" in r.out and r.err == ""
    # 2 steps had no one-cycle schedule (a constant rate): extending it is refused, not a KeyError
    one_line(cli(capsys, *resume, "--epochs", "2"), "cannot extend this run", "too few for a one-cycle schedule")
