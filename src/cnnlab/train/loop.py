"""The training loop, kept plain: ``train_one_epoch`` and ``evaluate``.

The loss is read on the host only every ``cfg.sync_every`` steps (to update the progress
bar and to catch divergence), so a GPU never waits on the CPU in between.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from cnnlab.data.augment import Augment
from cnnlab.data.memory import ImageTensors
from cnnlab.errors import DivergedError
from cnnlab.train.config import TrainConfig


@dataclass
class EpochStats:
    loss: float  # mean training loss (the optimized objective, label smoothing included)
    seconds: float  # wall time of the epoch's training steps
    images: int  # images seen
    loss_trace: list[float] = field(default_factory=list)  # mean loss over each sync window


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    data: ImageTensors,
    cfg: TrainConfig,
    epoch: int,
    generator: torch.Generator,
    augment: Augment | None = None,
    quiet: bool = False,
) -> EpochStats:
    model.train()
    device = data.device
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    window = torch.zeros((), device=device)  # loss summed since the last sync
    total, trace, window_steps, images, step = 0.0, [], 0, 0, 0
    bar = tqdm(
        total=len(data),
        unit="img",
        unit_scale=True,
        desc=f"epoch {epoch}/{cfg.epochs}",
        disable=quiet,
        leave=False,
        dynamic_ncols=True,
    )
    _synchronize(device)
    start = time.perf_counter()
    batches = data.batches(
        cfg.batch_size, shuffle=True, generator=generator, augment=augment, memory_format=memory_format
    )
    for step, (x, y) in enumerate(batches, 1):
        logits = model(x)  # (B, num_classes)
        loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        window += loss.detach()
        window_steps += 1
        images += len(y)
        if step % cfg.sync_every == 0 or images == len(data):
            mean = window.item() / window_steps  # the one host sync per window
            if not math.isfinite(mean):
                bar.close()
                raise DivergedError(
                    f"training diverged: the loss became {mean} in steps {step - window_steps + 1}-{step} "
                    f"of epoch {epoch}; "
                    f"lower the learning rate (--lr {cfg.lr:g} now, try --lr {cfg.lr / 10:g})"
                )
            trace.append(mean)
            total += mean * window_steps
            bar.update(images - bar.n)
            bar.set_postfix(loss=f"{mean:.4f}", refresh=False)
            window.zero_()
            window_steps = 0
    _synchronize(device)
    seconds = time.perf_counter() - start
    bar.close()
    return EpochStats(loss=total / max(1, step), seconds=seconds, images=images, loss_trace=trace)


@torch.no_grad()
def evaluate(model: nn.Module, data: ImageTensors, cfg: TrainConfig) -> dict[str, float]:
    """Test loss (plain cross-entropy) and accuracy over the whole of ``data``."""
    model.eval()
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    loss = torch.zeros((), device=data.device, dtype=torch.float64)
    correct = torch.zeros((), device=data.device, dtype=torch.int64)
    for x, y in data.batches(cfg.eval_batch_size, memory_format=memory_format):
        logits = model(x)  # (B, num_classes)
        loss += F.cross_entropy(logits.float(), y, reduction="sum").double()
        correct += (logits.argmax(1) == y).sum()
    n = len(data)
    return {"loss": loss.item() / n, "accuracy": correct.item() / n, "correct": int(correct.item()), "total": n}
