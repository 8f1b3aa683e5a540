"""config.json's "optimizer" says what the schedule really did (issue 16: it said beta1 0.9
while OneCycleLR cycled it). Checked against the values torch's optimizer holds as it steps."""

from __future__ import annotations

import pytest
from torch import nn

from cnnlab.train.config import TrainConfig
from cnnlab.train.optim import build_optimizer, build_schedule, effective_hyperparameters


def stepped(cfg: TrainConfig, total: int) -> tuple[dict, list[float], list[float]]:
    """(the record, the momentum and the learning rate before each of ``total`` steps)."""
    model = nn.Linear(3, 2)
    opt = build_optimizer(model, cfg)
    sched = build_schedule(opt, cfg, total)
    record = effective_hyperparameters(opt, sched, cfg, total)
    momenta, lrs = [], []
    for _ in range(total):
        g = opt.param_groups[0]
        momenta.append(g["betas"][0] if cfg.optimizer == "adamw" else g["momentum"])
        lrs.append(g["lr"])
        opt.step()
        sched.step()
    return record, momenta, lrs


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_onecycle_momentum_is_recorded_as_it_ran(optimizer):
    cfg = TrainConfig(optimizer=optimizer, momentum=0.9, lr=1e-2)
    record, momenta, lrs = stepped(cfg, 40)
    key = "beta1" if optimizer == "adamw" else "momentum"
    m = record[key]
    peak = record["lr"]["peak_step"]
    assert max(range(40), key=lambda i: lrs[i]) == peak  # the recorded peak is where the lr peaks
    assert m["cycled_by"] == "OneCycleLR"
    assert momenta[0] == pytest.approx(m["start"]) and momenta[peak] == pytest.approx(m["at_peak"])
    assert min(momenta) == pytest.approx(m["at_peak"]) and m["at_peak"] < 0.9 < m["start"]  # not cfg's 0.9
    assert momenta[-1] == pytest.approx(m["end"], abs=0.01)  # back up at the end of the cycle
    assert record["lr"]["peak"] == pytest.approx(max(lrs))


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_other_schedules_keep_the_configured_momentum(schedule):
    cfg = TrainConfig(schedule=schedule, momentum=0.8)
    record, momenta, _ = stepped(cfg, 12)
    assert record["beta1"] == 0.8 and set(momenta) == {0.8}


def test_too_short_for_onecycle_is_recorded_as_constant():
    """Under 4 steps OneCycleLR cannot run; the record says a constant rate ran, as it did."""
    cfg = TrainConfig(lr=1e-2)
    record, momenta, lrs = stepped(cfg, 3)
    assert set(lrs) == {1e-2} and set(momenta) == {cfg.momentum}
    assert record["schedule"] == "constant" and record["beta1"] == cfg.momentum
