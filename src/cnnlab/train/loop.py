"""The training loop, kept plain: ``train_one_epoch`` and ``evaluate``.

The loss is read on the host only every ``cfg.sync_every`` steps (to update the progress
bar and to catch divergence), so a GPU never waits on the CPU in between. Under
torch.distributed each process trains on its share of every global batch (``distributed.py``).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from cnnlab.data.augment import Augment
from cnnlab.errors import DivergedError
from cnnlab.train.config import TrainConfig
from cnnlab.train.distributed import Dist, all_sum

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class EpochState:
    """Where an epoch is; saved in checkpoints so it can continue from any step."""

    order: Tensor  # this epoch's shuffle order
    step: int = 0  # batches done
    loss_sum: float = 0.0  # sum of per-step losses so far
    seconds: float = 0.0  # training time so far
    images: int = 0  # images seen so far (all processes)
    trace: list[float] = field(default_factory=list)  # mean loss per sync window


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(cfg: TrainConfig, device: torch.device):
    if cfg.amp == "none":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=AMP_DTYPES[cfg.amp])


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    data,
    cfg: TrainConfig,
    epoch: int,
    generator: torch.Generator,
    state: EpochState | None = None,
    augment: Augment | None = None,
    quiet: bool = False,
    dist: Dist = Dist(),
    scaler: torch.amp.GradScaler | None = None,
    checkpoint: Callable[[EpochState], None] | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> EpochState:
    """Train from ``state.step`` to the end of the epoch (or until ``stop()`` says so; then
    ``checkpoint`` is called and the state returned with the epoch unfinished). Without a
    ``state`` the epoch starts at step 0 in an order drawn from ``generator``."""
    if state is None:
        state = EpochState(torch.randperm(len(data), generator=generator))
    model.train()
    device = next(model.parameters()).device
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    n, total_steps = len(data), data.num_batches(cfg.batch_size)
    window = torch.zeros((), device=device)  # loss summed since the last sync (this process)
    window_steps = 0
    bar = tqdm(
        total=n,
        initial=min(n, state.step * cfg.batch_size),
        unit="img",
        unit_scale=True,
        desc=f"epoch {epoch}/{cfg.epochs}",
        disable=quiet or not dist.main,
        leave=False,
        dynamic_ncols=True,
    )
    _synchronize(device)
    start = time.perf_counter()
    batches = data.batches(
        cfg.batch_size,
        generator=generator,
        augment=augment,
        memory_format=memory_format,
        start=state.step,
        order=state.order,
        shard=(dist.rank, dist.world),
    )
    step = state.step
    for x, y in batches:
        step += 1
        global_batch = min(cfg.batch_size, n - (step - 1) * cfg.batch_size)
        with autocast(cfg, device):
            logits = model(x)  # (B, num_classes)
            # the share's summed loss, scaled so that DDP's gradient average equals the global batch mean
            loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing, reduction="sum") * (
                dist.world / global_batch
            )
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        scheduler.step()
        window += loss.detach() / dist.world
        window_steps += 1
        stopping = stop()
        if (
            step % cfg.sync_every == 0
            or step == total_steps
            or stopping
            or (checkpoint and cfg.checkpoint_every and step % cfg.checkpoint_every == 0)
        ):
            mean = all_sum(window.clone(), dist).item() / window_steps  # the one host sync per window
            if not math.isfinite(mean):
                bar.close()
                raise DivergedError(
                    f"training diverged: the loss became {mean} in steps {step - window_steps + 1}-{step} "
                    f"of epoch {epoch}; lower the learning rate (--lr {cfg.lr:g} now, try --lr {cfg.lr / 10:g})"
                )
            state.trace.append(mean)
            state.loss_sum += mean * window_steps
            done = min(n, step * cfg.batch_size)
            state.images, state.step = done, step
            bar.update(done - bar.n)
            bar.set_postfix(loss=f"{mean:.4f}", refresh=False)
            window.zero_()
            window_steps = 0
            _synchronize(device)
            state.seconds += time.perf_counter() - start
            start = time.perf_counter()
            if checkpoint is not None and (
                stopping or (cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < total_steps)
            ):
                checkpoint(state)
            if stopping:
                break
    _synchronize(device)
    state.seconds += time.perf_counter() - start
    bar.close()
    return state


@torch.no_grad()
def evaluate(model: nn.Module, data, cfg: TrainConfig, dist: Dist = Dist(), topk: int = 5) -> dict[str, float]:
    """Test loss (plain cross-entropy), top-1 and top-k accuracy over the whole of ``data``
    (each process evaluates its share; the sums are combined)."""
    model.eval()
    device = next(model.parameters()).device
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    sums = torch.zeros(3, device=device, dtype=torch.float64)  # loss, top-1 correct, top-k correct
    for x, y in data.batches(cfg.eval_batch_size, memory_format=memory_format, shard=(dist.rank, dist.world)):
        with autocast(cfg, device):
            logits = model(x).float()  # (B, num_classes)
        k = min(topk, logits.shape[1])
        top = logits.topk(k, dim=1).indices  # (B, k)
        sums += torch.stack(
            [
                F.cross_entropy(logits, y, reduction="sum").double(),
                (top[:, 0] == y).sum().double(),
                (top == y[:, None]).any(1).sum().double(),
            ]
        )
    loss, correct, correct_k = all_sum(sums, dist).tolist()
    n = len(data)
    return {
        "loss": loss / n,
        "accuracy": correct / n,
        "top5_accuracy": correct_k / n,
        "correct": int(correct),
        "total": n,
    }
