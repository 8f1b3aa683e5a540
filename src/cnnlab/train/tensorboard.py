"""TensorBoard logs of a run (``--tensorboard``): the epoch's scalars, the first layer's
filters as an image, and the hyper-parameters with the final result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnlab.extras import require
from cnnlab.runs.config import TrainConfig

SCALARS = ("train_loss", "test_loss", "test_accuracy", "lr", "images_per_second")


def open_writer(folder: Path):
    require("tensorboard", "tensorboard", "--tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(folder))


def first_filters(model: nn.Module) -> torch.Tensor | None:
    """The first conv layer's filters as one (3, H, W) grid in [0, 1], each min-max scaled
    (None when the model has no 4-d weight with 1 or 3 input channels)."""
    from torchvision.utils import make_grid

    for m in model.modules():
        w = getattr(m, "weight", None)
        if isinstance(w, torch.Tensor) and w.ndim == 4 and w.shape[1] in (1, 3):
            tiles = w.detach().float().cpu()  # (O, C, kh, kw)
            return make_grid(tiles, nrow=min(8, len(tiles)), padding=1, normalize=True, scale_each=True, pad_value=1)
    return None


def log_epoch(writer, model: nn.Module, row: dict[str, Any], epoch: int) -> None:
    for key in (*SCALARS, *(k for k in row if k.startswith("test_top"))):
        writer.add_scalar(key, row[key], epoch)
    grid = first_filters(model)
    if grid is not None:
        writer.add_image("first_layer_filters", grid, epoch, dataformats="CHW")


def log_hparams(folder: Path, cfg: TrainConfig, summary: dict[str, Any]) -> None:
    with open_writer(folder) as writer:
        hparams = {k: v for k, v in cfg.to_dict().items() if isinstance(v, (int, float, str, bool))}
        writer.add_hparams(
            hparams,
            {"hparam/test_accuracy": summary["test_accuracy"], "hparam/test_loss": summary["test_loss"]},
            run_name=".",
        )
