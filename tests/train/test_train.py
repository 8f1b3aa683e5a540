"""Training end to end on a subset: learning, the run folder, reproducibility, divergence."""

from __future__ import annotations

import json

import pytest
import safetensors.torch
import torch

from cnnlab.errors import CheckpointError, CnnlabError, DivergedError
from cnnlab.train.config import TrainConfig
from cnnlab.train.evaluation import evaluate_run
from cnnlab.train.run import config_for, load_run, run_training
from cnnlab.train.run_dir import RunDir

QUICK = dict(train_subset=3000, epochs=2, device="cpu")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "lenet"
    summary = run_training(config_for("lenet5", **QUICK), out=out, quiet=True, echo=lambda s: None)
    return summary, out


def test_loss_falls_and_accuracy_is_far_above_chance(quick_run):
    summary, out = quick_run
    rows = RunDir(out).read_metrics()
    assert [r["epoch"] for r in rows] == [1, 2]
    trace = rows[0]["train_loss_trace"] + rows[1]["train_loss_trace"]
    assert trace[-1] < 0.6 * trace[0]  # starts near ln(10) = 2.30
    assert rows[1]["train_loss"] < rows[0]["train_loss"]
    assert summary["test_accuracy"] > 0.85  # chance is 0.10
    assert summary["status"] == "finished"


def test_run_folder_contents(quick_run):
    summary, out = quick_run
    # checkpoint.prev.pt is the one before the last, kept in case the last is damaged
    assert {p.name for p in out.iterdir()} - {"checkpoint.prev.pt"} == {
        "config.json",
        "metrics.jsonl",
        "model.safetensors",
        "curves.png",
        "summary.json",
        "checkpoint.pt",
    }
    stored = json.loads((out / "config.json").read_text())
    assert TrainConfig.from_dict(stored["config"]) == config_for("lenet5", **QUICK)
    assert stored["model_args"] == {"num_classes": 10, "in_channels": 1, "input_size": [28, 28]}
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    weights = safetensors.torch.load_file(str(out / "model.safetensors"))
    assert sum(t.numel() for t in weights.values()) == summary["params"] == 61706
    assert json.loads((out / "summary.json").read_text()) == summary


def test_eval_reproduces_the_training_accuracy_exactly(quick_run):
    summary, out = quick_run
    again = evaluate_run(out, device="cpu")
    assert again["test_accuracy"] == summary["test_accuracy"]
    assert again["test_loss"] == summary["test_loss"]


def test_seeded_cpu_runs_repeat_to_the_last_digit(quick_run, tmp_path):
    summary, out = quick_run
    again = run_training(config_for("lenet5", **QUICK), out=tmp_path / "again", quiet=True, echo=lambda s: None)
    assert again["test_accuracy"] == summary["test_accuracy"] and again["test_loss"] == summary["test_loss"]
    a = safetensors.torch.load_file(str(out / "model.safetensors"))
    b = safetensors.torch.load_file(str(tmp_path / "again" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = run_training(
        config_for("lenet5", **{**QUICK, "epochs": 1}, seed=1), out=tmp_path / "seed1", quiet=True, echo=lambda s: None
    )
    c = safetensors.torch.load_file(str(tmp_path / "seed1" / "model.safetensors"))
    assert not torch.equal(a["C1.weight"], c["C1.weight"])
    assert other["seed"] == 1


def test_divergence_stops_with_a_clear_message_and_keeps_the_folder(tmp_path):
    # SGD at lr 1e8 overflows within the first steps (lower rates can instead kill every ReLU,
    # which leaves a finite loss)
    cfg = config_for("lenet5", optimizer="sgd", lr=1e8, train_subset=1000, epochs=3, device="cpu")
    with pytest.raises(
        DivergedError,
        match=r"training diverged: the loss became (nan|inf) in steps 1-8 of epoch 1; lower the learning rate \(--lr 1e\+08 now, try --lr 1e\+07\)",
    ):
        run_training(cfg, out=tmp_path / "div", quiet=True, echo=lambda s: None)
    summary = json.loads((tmp_path / "div" / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["epochs"] == 0
    assert json.loads((tmp_path / "div" / "config.json").read_text())["config"]["lr"] == 1e8
    assert not (tmp_path / "div" / "model.safetensors").exists()  # no garbage weights


def test_existing_run_folder_is_never_overwritten(quick_run):
    _, out = quick_run
    before = (out / "model.safetensors").read_bytes()
    with pytest.raises(CnnlabError, match="already holds a run"):
        run_training(config_for("lenet5", **QUICK), out=out, quiet=True, echo=lambda s: None)
    assert (out / "model.safetensors").read_bytes() == before


def test_corrupt_weights_give_a_clear_error(quick_run, tmp_path):
    _, out = quick_run
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "metrics.jsonl"):
        (broken / name).write_bytes((out / name).read_bytes())
    (broken / "model.safetensors").write_bytes((out / "model.safetensors").read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"model\.safetensors: corrupt or truncated weights file"):
        load_run(broken, device="cpu")
    with pytest.raises(CheckpointError, match="is not a cnnlab run folder"):
        load_run(tmp_path, device="cpu")


def test_config_rejects_bad_values():
    with pytest.raises(CnnlabError, match="--batch-size must be at least 1, got 0"):
        TrainConfig(batch_size=0)
    with pytest.raises(CnnlabError, match="--optimizer must be adamw or sgd, got 'adam'"):
        TrainConfig(optimizer="adam")
    with pytest.raises(CnnlabError, match="unknown fields"):
        TrainConfig.from_dict({"model": "lenet5", "colour": "red"})


def test_model_recipe_then_flags():
    assert config_for("lenet5").epochs == 5
    assert config_for("lenet5", epochs=1, lr=None).epochs == 1
    assert config_for("lenet5", lr=None).lr == 3e-3
