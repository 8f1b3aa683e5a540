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


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_onecycle_without_momentum_cycling_keeps_the_configured_momentum(optimizer):
    """--no-cycle-momentum (mnist-race's recipe): the learning rate still cycles, the momentum stays."""
    cfg = TrainConfig(optimizer=optimizer, momentum=0.7, beta2=0.9, cycle_momentum=False, lr=1e-2)
    record, momenta, lrs = stepped(cfg, 40)
    key = "beta1" if optimizer == "adamw" else "momentum"
    assert record[key] == 0.7 and set(momenta) == {0.7}
    assert max(lrs) == pytest.approx(1e-2) and lrs[0] < 1e-3  # the one-cycle learning rate still ran
    if optimizer == "adamw":
        assert record["beta2"] == 0.9


def test_beta2_reaches_adamw_and_is_checked():
    model = nn.Linear(3, 2)
    assert build_optimizer(model, TrainConfig(beta2=0.95)).param_groups[0]["betas"] == (0.9, 0.95)
    from cnnlab.errors import CnnlabError

    with pytest.raises(CnnlabError, match="--beta2 must be in"):
        TrainConfig(beta2=1.0)


def test_fused_adamw_takes_the_same_steps_as_the_per_tensor_loop():
    """build_optimizer's fused AdamW (CPU) against torch's plain for-loop AdamW, 50 steps on random data."""
    import torch

    torch.manual_seed(0)
    a, b = nn.Linear(30, 20), nn.Linear(30, 20)
    b.load_state_dict(a.state_dict())
    cfg = TrainConfig(lr=3e-3, momentum=0.8, beta2=0.95, weight_decay=0.1)
    fused = build_optimizer(a, cfg)
    plain = torch.optim.AdamW(b.parameters(), lr=3e-3, betas=(0.8, 0.95), weight_decay=0.1, foreach=False)
    assert fused.defaults["fused"] is True
    start = a.weight.detach().clone()
    for _ in range(50):
        x = torch.randn(8, 30)
        for model, opt in ((a, fused), (b, plain)):
            opt.zero_grad()
            model(x).pow(2).sum().backward()
            opt.step()
    torch.testing.assert_close(a.weight, b.weight, rtol=1e-5, atol=1e-6)
    assert (a.weight - start).abs().max() > 1e-2  # the weights did move


def test_sgd_without_momentum_is_plain_sgd():
    """--optimizer sgd --momentum 0: torch's Nesterov needs momentum, so it is plain SGD (no crash)."""
    import torch

    model = nn.Linear(3, 2)
    opt = build_optimizer(model, TrainConfig(optimizer="sgd", momentum=0.0, lr=0.1))
    assert opt.param_groups[0]["nesterov"] is False
    w = model.weight.detach().clone()
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    torch.testing.assert_close(model.weight, w - 0.1 * torch.ones_like(w))


def test_a_checkpoint_from_the_per_tensor_loop_resumes_on_it():
    """A run started before fused AdamW keeps stepping as it began (resume to the last digit)."""
    import torch

    model = nn.Linear(3, 2)
    old = torch.optim.AdamW(model.parameters(), lr=1e-3)  # fused=None: the loop
    model(torch.ones(1, 3)).sum().backward()
    old.step()
    new = build_optimizer(model, TrainConfig(lr=1e-3))
    assert new.param_groups[0]["fused"] is True
    new.load_state_dict(old.state_dict())
    assert not new.param_groups[0]["fused"]
