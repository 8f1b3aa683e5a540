"""The training loop, kept plain: ``train_one_epoch`` and ``evaluate``.

The loss is read on the host only every ``cfg.sync_every`` steps (to update the progress
bar and to catch divergence), so a GPU never waits on the CPU in between. Under
torch.distributed each process trains on its share of every global batch (``distributed.py``).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from cnnlab.data.augment import Augment
from cnnlab.errors import CnnlabError, DivergedError
from cnnlab.train.config import TrainConfig
from cnnlab.train.distributed import Dist, all_sum
from cnnlab.train.ema import MovingAverage

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


# Divergence (issue 14): a window's mean loss that is not finite, or above this many times the
# run's start (the loss of its very first step, the model before any update). Read at the
# sync points only, so it costs no extra host syncs.
DIVERGENCE_FACTOR = 10.0


@dataclass
class EpochState:
    """Where an epoch is; saved in checkpoints so it can continue from any step."""

    order: Tensor  # this epoch's shuffle order (its length is the epoch's size)
    step: int = 0  # batches done
    loss_sum: float = 0.0  # sum of per-step losses so far
    seconds: float = 0.0  # training time so far
    images: int = 0  # images seen so far (all processes)
    trace: list[float] = field(default_factory=list)  # mean loss per sync window
    start_loss: float | None = None  # the run's first step's loss (the divergence baseline), carried across epochs


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(cfg: TrainConfig, device: torch.device):
    if cfg.amp == "none":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=AMP_DTYPES[cfg.amp])


def epoch_batches(
    data,
    cfg: TrainConfig,
    state: EpochState,
    generator: torch.Generator | None = None,
    augment: Augment | None = None,
    dist: Dist = Dist(),
) -> Iterator[tuple[Tensor, Tensor]]:
    """The batches of ``state``'s epoch from its current step on, in its order, this process's share."""
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    return data.batches(
        cfg.batch_size,
        generator=generator,
        augment=augment,
        memory_format=memory_format,
        start=state.step,
        order=state.order,
        shard=(dist.rank, dist.world),
    )


def check_divergence(mean: float, state: EpochState, steps: str, epoch: int, lr: float) -> None:
    """Raise :class:`DivergedError` if a window's mean loss is not finite or has grown above
    ``DIVERGENCE_FACTOR`` × the run's start."""
    start = state.start_loss
    if math.isfinite(mean) and (start is None or mean <= DIVERGENCE_FACTOR * start):
        return
    what = (
        f"became {mean}"
        if not math.isfinite(mean)
        else f"rose to {mean:.3g}, over {DIVERGENCE_FACTOR:g}× its start ({start:.3g})"
    )
    raise DivergedError(
        f"training diverged: the loss {what} in steps {steps} of epoch {epoch}; "
        f"lower the learning rate (--lr {lr:g} now, try --lr {lr / 10:g})"
    )


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    batches: Iterable[tuple[Tensor, Tensor]],
    cfg: TrainConfig,
    state: EpochState,
    epoch: int = 1,
    dist: Dist = Dist(),
    scaler: torch.amp.GradScaler | None = None,
    bar: tqdm | None = None,
    ema: MovingAverage | None = None,
) -> EpochState:
    """Train on every (x, y) of ``batches`` (the rest of ``state``'s epoch, or the part of it
    the caller hands over), continuing ``state``, and return it.

    The loss is read on the host every ``cfg.sync_every`` steps and after the last batch; there
    the window's mean joins ``state.trace`` and is checked for divergence (:func:`check_divergence`).
    Checkpoints, Ctrl-C and epoch boundaries are the caller's: it decides which batches to hand over.
    ``ema``: a moving average of ``model``'s weights, updated after every step.
    """
    model.train()
    device = next(model.parameters()).device
    n = len(state.order)
    window = torch.zeros((), device=device)  # loss summed since the last sync (this process)
    first = None  # the run's first loss, read at the first sync
    window_steps = 0
    step = state.step

    def sync() -> None:
        nonlocal window_steps
        # the one host read per window: the window's loss sum (and the run's first loss, once)
        sums = all_sum(torch.stack([window, first if first is not None else window]), dist) / dist.world
        total, first_loss = sums.tolist()
        if first is not None:
            state.start_loss = first_loss
        mean = total / window_steps
        check_divergence(mean, state, f"{step - window_steps + 1}-{step}", epoch, cfg.lr)
        state.trace.append(mean)
        state.loss_sum += mean * window_steps
        state.images, state.step = min(n, step * cfg.batch_size), step
        if bar is not None:
            bar.update(state.images - bar.n)
            bar.set_postfix(loss=f"{mean:.4f}", refresh=False)
        window.zero_()
        window_steps = 0

    _synchronize(device)
    start = time.perf_counter()
    for x, y in batches:
        step += 1
        global_batch = min(cfg.batch_size, n - (step - 1) * cfg.batch_size)
        with autocast(cfg, device):
            logits = model(x)  # (B, num_classes)
            # the share's summed loss, scaled so that DDP's gradient average equals the global batch mean
            loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing, reduction="sum") * (
                dist.world / global_batch
            )
        if state.start_loss is None and first is None:
            first = loss.detach().clone()
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update()
        window += loss.detach()
        window_steps += 1
        if step % cfg.sync_every == 0:
            sync()
            first = None
    if window_steps:
        sync()
    _synchronize(device)
    state.seconds += time.perf_counter() - start
    return state


@torch.no_grad()
def evaluate(
    model: nn.Module, data, cfg: TrainConfig, dist: Dist = Dist(), topk: int = 5, confusion: bool = False
) -> dict[str, Any]:
    """Test loss (plain cross-entropy), top-1 and top-k accuracy over the whole of ``data``
    (each process evaluates its share; the sums are combined).

    k is ``min(topk, classes)`` and names its key: ``top5_accuracy`` for k = 5, ``top2_accuracy``
    on two classes. ``confusion``: also the (classes, classes) matrix, rows true, columns predicted.
    """
    model.eval()
    device = next(model.parameters()).device
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    n_classes = data.num_classes
    k = min(topk, n_classes)
    sums = torch.zeros(3, device=device, dtype=torch.float64)  # loss, top-1 correct, top-k correct
    matrix = torch.zeros(n_classes * n_classes if confusion else 1, dtype=torch.int64, device=device)
    for x, y in data.batches(cfg.eval_batch_size, memory_format=memory_format, shard=(dist.rank, dist.world)):
        with autocast(cfg, device):
            logits = model(x).float()  # (B, num_classes)
        if logits.shape[1] != n_classes:
            raise CnnlabError(
                f"the model has {logits.shape[1]} outputs but the data has {n_classes} classes; "
                "use a model built for this dataset"
            )
        # top-1: the first of the highest logits, as argmax, the page and the mistakes list pick it;
        # topk orders tied logits arbitrarily, and bf16 logits tie often enough to change the figure
        pred = logits.argmax(1)  # (B,)
        top = logits.topk(k, dim=1).indices  # (B, k)
        hit = pred == y  # (B,)
        sums += torch.stack(
            [
                F.cross_entropy(logits, y, reduction="sum").double(),
                hit.sum().double(),
                ((top == y[:, None]).any(1) | hit).sum().double(),  # a top-1 hit is a top-k hit, ties or not
            ]
        )
        if confusion:
            matrix += torch.bincount(y * n_classes + pred, minlength=n_classes * n_classes)
    loss, correct, correct_k = all_sum(sums, dist).tolist()
    n = len(data)
    result: dict[str, Any] = {
        "loss": loss / n,
        "accuracy": correct / n,
        f"top{k}_accuracy": correct_k / n,
        "topk": k,
        "correct": int(correct),
        "total": n,
    }
    if confusion:
        result["confusion"] = all_sum(matrix, dist).view(n_classes, n_classes).cpu()
    return result
