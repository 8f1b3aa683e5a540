"""Optimizer and learning-rate schedule from a :class:`TrainConfig`."""

from __future__ import annotations

import math

import torch
from torch import nn

from cnnlab.train.config import TrainConfig


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=True, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, betas=(cfg.momentum, 0.999), weight_decay=cfg.weight_decay)


def build_schedule(optimizer: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int):
    """A per-step schedule: one-cycle (Smith 2018), warmup + cosine, or constant."""
    if cfg.schedule == "onecycle" and total_steps >= 4:
        # OneCycleLR divides by the length of each phase: keep both at least one step long
        pct = min(max(cfg.warmup, 2.0 / total_steps), 1.0 - 2.0 / total_steps)
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=total_steps, pct_start=pct)
    if cfg.schedule == "cosine":
        warm = int(cfg.warmup * total_steps)

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total_steps - warm)))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
