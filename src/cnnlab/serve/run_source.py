"""The run behind the page: its model, the input pipeline it was trained with, and its
training state, read from the run folder (finished or still training).

This is the one place where serve reads a run folder; when ``cnnlab.runs.Run`` records
the input pipeline, this module becomes a thin wrapper over it.

The input pipeline is the training one (``cnnlab.data.memory.ImageTensors.batches``):
the dataset's own image (28×28 grey for MNIST, 32×32 RGB for CIFAR) in [0, 1], normalized
per channel, then resized bilinearly to ``--resize`` and grey repeated to RGB when the
model takes three channels.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cnnlab.errors import CheckpointError, CnnlabError


@dataclass
class InputPipeline:
    """How an image in [0, 1] becomes the tensor the model was trained on."""

    native: tuple[int, int, int]  # (C, H, W) of the dataset's own images
    model_input: tuple[int, int, int]  # (C, H, W) the model takes (after --resize, grey -> RGB)
    mean: tuple[float, ...]  # per native channel, [0, 1] units
    std: tuple[float, ...]
    digits: bool  # MNIST-like: a drawing is centred like MNIST (digit.to_mnist)

    def tensor(self, img: np.ndarray) -> Tensor:
        """(H, W) or (C, H, W) native image in [0, 1] -> (1, C, H, W) model input."""
        x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))
        return self.batch(x.view(1, -1, *x.shape[-2:]))  # (1, Cn, Hn, Wn) in

    def __post_init__(self) -> None:
        self._mean = torch.tensor(self.mean, dtype=torch.float32).view(1, -1, 1, 1)  # made once, not per request
        self._std = torch.tensor(self.std, dtype=torch.float32).view(1, -1, 1, 1)

    def batch(self, x: Tensor) -> Tensor:
        """(N, Cn, Hn, Wn) native images in [0, 1] -> (N, C, H, W) model inputs."""
        x = (x - self._mean) / self._std
        c, h, w = self.model_input
        if x.shape[-2:] != (h, w):
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)  # as --resize does
        if x.shape[1] != c:
            x = x.expand(-1, c, -1, -1)
        return x.contiguous()


@dataclass
class ServedRun:
    path: Path
    model: nn.Module
    name: str
    dataset: str
    data_dir: str | None
    pipeline: InputPipeline
    classes: list[str]
    config: dict[str, Any] = field(default_factory=dict)  # the run's TrainConfig as a dict
    weights_file: str | None = None  # where the weights came from (None: not trained yet)

    @property
    def epochs(self) -> int:
        return int(self.config.get("epochs", 0))

    def weights_stamp(self) -> tuple:
        """Changes whenever new weights land (the final file, or a checkpoint)."""
        stamp = []
        for name in ("model.safetensors", "checkpoint.pt"):
            try:
                st = os.stat(self.path / name)
                stamp.append((name, st.st_mtime_ns, st.st_size))
            except OSError:
                stamp.append((name, None, None))
        return tuple(stamp)

    def reload_weights(self) -> None:
        """Load the newest weights into ``model`` (final file first, else the latest checkpoint)."""
        state, source = _newest_state(self.path)
        if state is not None:
            self.model.load_state_dict(state, strict=True)
            self.weights_file = source
        self.model.eval()

    def summary(self) -> dict[str, Any]:
        file = self.path / "summary.json"
        return _read_json(file) if file.is_file() else {}

    def training_state(self) -> dict[str, Any]:
        """ "finished", or "training" with the epoch in progress, from the run's own files."""
        metrics = read_metrics(self.path)
        summary = self.summary()
        done = len(metrics)
        status = summary.get("status")
        if status is None:
            status = "finished" if (self.path / "model.safetensors").is_file() else "training"
        epoch = min(done + 1, self.epochs) if status == "training" else done
        return {"status": status, "epoch": epoch, "epochs": self.epochs, "epochs_done": done}


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}  # being written: the next poll reads it


def read_metrics(path: Path) -> list[dict[str, Any]]:
    file = path / "metrics.jsonl"
    if not file.is_file():
        return []
    rows = []
    for line in file.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a line still being appended
    return rows


def _newest_state(path: Path) -> tuple[dict[str, Tensor] | None, str | None]:
    import safetensors.torch

    final = path / "model.safetensors"
    if final.is_file():
        try:
            return safetensors.torch.load_file(str(final)), final.name
        except Exception as e:  # noqa: BLE001 - any unreadable file: say which and how to fix
            raise CheckpointError(f"{final}: unreadable weights ({e}); train the run again") from None
    from cnnlab.train.checkpoint import CHECKPOINT, PREVIOUS

    for name in (CHECKPOINT, PREVIOUS):  # a run still training: its latest checkpoint
        file = path / name
        if not file.is_file():
            continue
        try:
            state = torch.load(file, map_location="cpu", weights_only=True)
            return state["model"], name
        except Exception:  # noqa: BLE001 - being replaced right now: try the previous one
            continue
    return None, None


def _data_stats(dataset: str, channels: int) -> tuple[tuple[int, int, int], tuple, tuple, tuple | None, bool]:
    """(native (C, H, W), mean, std, classes or None, MNIST-like) of a dataset, without loading it."""
    from cnnlab.data.idx_datasets import IDX_DATASETS

    if dataset in IDX_DATASETS:
        spec = IDX_DATASETS[dataset]
        return (1, 28, 28), (spec.mean,), (spec.std,), tuple(spec.classes), True
    if dataset in ("cifar10", "cifar100"):
        from cnnlab.data.cifar import CIFAR

        spec = CIFAR[dataset]
        return (3, 32, 32), tuple(spec.mean), tuple(spec.std), None, False
    from cnnlab.data.imagefolder import IMAGENET_MEAN, IMAGENET_STD

    return (3, 0, 0), IMAGENET_MEAN, IMAGENET_STD, None, False


def open_run(run_dir: str | Path, classes: tuple[str, ...] | None = None) -> ServedRun:
    """A run folder as the page serves it; it may still be training (no final weights yet)."""
    from cnnlab.models import get_spec
    from cnnlab.train.run_dir import RunDir

    path = Path(run_dir)
    if not path.is_dir():
        raise CnnlabError(f"run folder {run_dir} does not exist; pass the --out folder of a `cnnlab train` run")
    run = RunDir.open(path)
    cfg, args = run.read_config()
    c, (h, w) = args["in_channels"], tuple(args["input_size"])
    model = get_spec(cfg.model).build(num_classes=args["num_classes"], in_channels=c, input_size=(h, w))
    native, mean, std, known, digits = _data_stats(cfg.dataset, c)
    if native[1] == 0:  # an image tree: its images are resized to the model's size
        native = (3, h, w)
    served = ServedRun(
        path=path,
        model=model,
        name=f"{cfg.model} ({path.name})",
        dataset=cfg.dataset,
        data_dir=cfg.data_dir,
        pipeline=InputPipeline(native, (c, h, w), mean, std, digits),
        classes=list(classes or known or [str(k) for k in range(args["num_classes"])]),
        config=cfg.to_dict(),
    )
    served.reload_weights()
    return served
