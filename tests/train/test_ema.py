"""--ema: the moving average of the weights against the formula, what a run saves and
evaluates, and resume."""

from __future__ import annotations

import json

import pytest
import safetensors.torch
import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.runs.config import TrainConfig
from cnnlab.train.checkpoint import load_checkpoint
from cnnlab.train.ema import MovingAverage
from tests.conftest import run_cli


def test_the_average_follows_the_formula_for_weights_and_batchnorm_statistics():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    decay = 0.5  # reached at the 9th update: the warm-up, then the cap
    ema = MovingAverage(net, decay)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    names = [n for n, t in net.state_dict().items() if t.is_floating_point()]  # weights, running mean/var
    expected: dict[str, torch.Tensor] = {}
    for step in range(14):
        x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 3, (16,))
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        ema.update()
        now = net.state_dict()
        d = min(decay, (step + 1) / (step + 10))  # the warm-up: update n uses min(decay, n / (n + 9))
        for n in names:  # the first update copies; then w̄ <- d·w̄ + (1 - d)·w, in float64
            w = now[n].double()
            expected[n] = w.clone() if step == 0 else d * expected[n] + (1 - d) * w
    got = ema.module.state_dict()
    for n in names:
        torch.testing.assert_close(got[n].double(), expected[n], rtol=1e-5, atol=1e-6)
    assert not torch.equal(got["0.weight"], net.state_dict()["0.weight"])  # an average, not a copy
    assert got["1.num_batches_tracked"] == net.state_dict()["1.num_batches_tracked"] == 14


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_a_decay_outside_0_1_is_refused(bad):
    with pytest.raises(CnnlabError, match="--ema must be in"):
        TrainConfig(ema=bad)


ARGS = ["--model", "mnist-fast", "--train-subset", "2048", "--test-subset", "500", "--batch-size", "64"]
ARGS += ["--schedule", "constant", "--lr", "1e-3", "--device", "cpu", "--quiet"]


def _weights(run):
    return safetensors.torch.load_file(str(run / "model.safetensors"))


def test_a_run_saves_and_evaluates_the_average(tmp_path):
    out = tmp_path / "run"
    proc = run_cli("train", *ARGS, "--epochs", "1", "--ema", "0.9", "--json", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    state = load_checkpoint(out)
    saved = _weights(out)
    assert int(state["ema"]["n_averaged"]) == 2048 // 64  # updated after every step of the epoch
    average = {k.removeprefix("module."): v for k, v in state["ema"].items() if k.startswith("module.")}
    assert saved.keys() == state["model"].keys()
    assert all(torch.equal(saved[k], average[k]) for k in saved)  # the average is what was saved
    assert any(not torch.equal(saved[k], state["model"][k]) for k in saved)  # not the last weights
    # and what was evaluated: cnnlab eval of the saved weights gives the run's own figure
    summary = json.loads((out / "summary.json").read_text())
    evaluated = run_cli("eval", str(out), "--test-subset", "500", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout.strip().splitlines()[-1])["test_accuracy"] == summary["test_accuracy"]
    # the log and metrics.jsonl also give the last weights' figure, from the raw checkpoint weights
    row = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert "(last weights " in proc.stdout and row["last_weights_test_loss"] != row["test_loss"]


def test_resume_carries_the_average_on(tmp_path):
    """Two epochs in one go, and one epoch then --resume to two (a constant schedule, so the
    two runs take the same steps): the same average only if the checkpoint kept it."""
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert run_cli("train", *ARGS, "--epochs", "2", "--ema", "0.95", "--out", str(whole)).returncode == 0
    assert run_cli("train", *ARGS, "--epochs", "1", "--ema", "0.95", "--out", str(parts)).returncode == 0
    resumed = run_cli("train", "--resume", str(parts), "--epochs", "2", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    a, b = _weights(whole), _weights(parts)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
