"""Optimizer and learning-rate schedule from a :class:`TrainConfig`."""

from __future__ import annotations

import math

import torch
from torch import nn

from cnnlab.errors import CnnlabError
from cnnlab.train.config import TrainConfig

# AdamW as one fused kernel over all parameters on these devices (torch's CPU and CUDA kernels):
# the same update as the per-tensor loop (tested), without its dozen small ops per parameter per
# step, which show in a small net's step (mnist-race). A checkpoint keeps the flag it ran with,
# so a run started before this resumes on the loop, to the last digit.
FUSED_ADAMW_DEVICES = ("cpu", "cuda")


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        nesterov = cfg.momentum > 0  # torch's Nesterov needs some momentum; --momentum 0 is plain SGD
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, nesterov=nesterov, weight_decay=cfg.weight_decay
        )
    fused = bool(params) and all(p.device.type in FUSED_ADAMW_DEVICES and p.is_floating_point() for p in params)
    return torch.optim.AdamW(
        params, lr=cfg.lr, betas=(cfg.momentum, cfg.beta2), weight_decay=cfg.weight_decay, fused=fused or None
    )


def build_schedule(optimizer: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int):
    """A per-step schedule: one-cycle (Smith 2018), warmup + cosine, or constant."""
    if cfg.schedule == "onecycle" and total_steps >= 4:
        # OneCycleLR divides by the length of each phase: keep both at least one step long
        pct = min(max(cfg.warmup, 2.0 / total_steps), 1.0 - 2.0 / total_steps)
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=cfg.lr, total_steps=total_steps, pct_start=pct, cycle_momentum=cfg.cycle_momentum
        )
    if cfg.schedule == "cosine":
        warm = int(cfg.warmup * total_steps)

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total_steps - warm)))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


def effective_hyperparameters(optimizer: torch.optim.Optimizer, scheduler, cfg: TrainConfig, total_steps: int) -> dict:
    """The optimizer's hyper-parameters as the schedule really drives them (for config.json).

    OneCycleLR also cycles the momentum (AdamW's beta1, SGD's momentum): 0.95 at the start and
    the end, 0.85 at the learning-rate peak (Smith 2018); ``cfg.momentum`` is then unused,
    unless ``cfg.cycle_momentum`` is False.
    """
    g = optimizer.param_groups[0]
    momentum_key = "beta1" if isinstance(optimizer, torch.optim.AdamW) else "momentum"
    onecycle = isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR)
    out: dict = {
        "optimizer": type(optimizer).__name__,
        # a run under 4 steps is too short for one cycle: build_schedule gives it a constant rate
        "schedule": "constant" if cfg.schedule == "onecycle" and not onecycle else cfg.schedule,
        "total_steps": total_steps,
        "weight_decay": g["weight_decay"],
    }
    if isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR):
        # OneCycleLR keeps its phase boundaries in a private attribute, absent from torch's stub
        peak_step = scheduler._schedule_phases[0]["end_step"]  # type: ignore[attr-defined]
        out["lr"] = {"start": g["initial_lr"], "peak": g["max_lr"], "peak_step": int(peak_step), "end": g["min_lr"]}
        if scheduler.cycle_momentum:
            out[momentum_key] = {
                "start": g["max_momentum"],
                "at_peak": g["base_momentum"],
                "end": g["max_momentum"],
                "cycled_by": "OneCycleLR",
            }
        else:
            out[momentum_key] = cfg.momentum
    else:
        warm = int(cfg.warmup * total_steps) if cfg.schedule == "cosine" else 0
        end = 0.0 if cfg.schedule == "cosine" else cfg.lr
        out["lr"] = {"peak": cfg.lr, "warmup_steps": warm, "end": end}
        out[momentum_key] = cfg.momentum
    if isinstance(optimizer, torch.optim.AdamW):
        out["beta2"], out["eps"] = g["betas"][1], g["eps"]
    else:
        out["nesterov"] = g.get("nesterov", False)
    return out


def load_schedule_state(scheduler, state: dict) -> None:
    """Continue a stored schedule at its step; its total (and so its shape) stays this
    scheduler's, so ``--resume --epochs N`` stretches the schedule over N epochs."""
    fresh = scheduler.state_dict()
    if ("lr_lambdas" in state) != ("lr_lambdas" in fresh):  # under 4 steps the run had no one-cycle schedule
        raise CnnlabError(
            f"cannot extend this run: its {state.get('last_epoch', 0)} steps were too few for a one-cycle schedule "
            "(it trained at a constant rate); train it again with the --epochs you want"
        )
    keep = ("total_steps", "_schedule_phases") if isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR) else ()
    scheduler.load_state_dict({**state, **{k: fresh[k] for k in keep if k in fresh}})
