"""Data-parallel training on torch.distributed: one process per GPU (or CPU), on one machine or many.

Launch with torchrun, which sets RANK, LOCAL_RANK and WORLD_SIZE:

    torchrun --nproc-per-node 4 -m cnnlab train --model resnet18-small --dataset cifar10
    torchrun --nnodes 2 --node-rank 0 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 -m cnnlab train ...

Every process holds the data (or reads its share of an image tree); each global batch is
split across the processes, each computes its share's summed loss scaled by
world size / global batch size, and DistributedDataParallel averages the gradients, so an
update equals a single process's update with the same global batch (tested). NCCL on GPUs,
gloo on CPUs. Only rank 0 writes files and prints; metrics are summed across ranks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from cnnlab.errors import CnnlabError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def is_main_process() -> bool:
    """True unless torchrun started this process as a rank other than 0."""
    return int(os.environ.get("RANK", "0")) == 0


def init_distributed(device: str) -> Dist:
    """Join the process group when launched by torchrun; a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device != "cpu"
    if use_cuda:
        if local >= torch.cuda.device_count():
            raise CnnlabError(
                f"LOCAL_RANK {local} but only {torch.cuda.device_count()} GPUs here; use --nproc-per-node {torch.cuda.device_count()}"
            )
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Dist(rank, world, local)


def device_for(d: Dist, device: str) -> str:
    """Each process's device: its own GPU under torchrun."""
    if d.enabled and torch.cuda.is_available() and device in ("auto", "cuda"):
        return f"cuda:{d.local_rank}"
    return device


def all_sum(t: torch.Tensor, d: Dist) -> torch.Tensor:
    if d.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def shutdown(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()
