"""A finished (or stopped) training run, loaded back from its folder.

>>> run = Run.open("runs/lenet5-mnist")                       # doctest: +SKIP
>>> model = run.model()                                       # doctest: +SKIP
>>> logits = model(run.preprocess(images_uint8))              # doctest: +SKIP
>>> run.config.lr, run.pipeline.input_shape, run.metrics[-1]["test_accuracy"]   # doctest: +SKIP
"""

from __future__ import annotations

import base64
import dataclasses
import html
import sys
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from cnnlab.data import load_dataset
from cnnlab.device import resolve_device
from cnnlab.display import Picture
from cnnlab.errors import CnnlabError
from cnnlab.models import get_spec
from cnnlab.runs.config import TrainConfig
from cnnlab.runs.folder import RunDir
from cnnlab.runs.pipeline import Pipeline


def _note(message: str) -> None:
    print(f"cnnlab: note: {message}", file=sys.stderr, flush=True)


class Run:
    """A run folder's config, input pipeline, metrics and model.

    ``Run.open(path)`` reads config.json; ``model()`` builds the model and loads its weights;
    ``preprocess(images)`` turns images into what the model was trained on. A run written
    before cnnlab recorded its pipeline still opens: the pipeline is derived from its config
    (dataset statistics, --resize) and ``notes`` (also printed once) says so.
    """

    def __init__(self, folder: RunDir, record: dict[str, Any], log: Callable[[str], None] = _note) -> None:
        self.folder = folder
        self.record = record
        self.config, self.model_args = folder.read_config()
        self.notes: list[str] = []
        if isinstance(record.get("pipeline"), dict):
            self.pipeline = Pipeline.from_dict(record["pipeline"])
        else:
            self.pipeline = derived_pipeline(self.config, self.model_args)
            self.notes.append(
                f"{folder.path} was written by an older cnnlab that did not record its input pipeline; "
                f"using {self.config.dataset}'s statistics and the stored --resize"
            )
        for n in self.notes:
            log(n)

    @classmethod
    def open(cls, path: str | Path, log: Callable[[str], None] = _note) -> Run:
        folder = RunDir.open(path)
        return cls(folder, folder.read_record(), log)

    @property
    def path(self) -> Path:
        return self.folder.path

    @property
    def name(self) -> str:
        """For captions: ``lenet5 (folder name)``."""
        return f"{self.config.model} ({self.path.name})"

    @property
    def optimizer(self) -> dict[str, Any] | None:
        """The optimizer's hyper-parameters as they really ran (None for older runs)."""
        return self.record.get("optimizer")

    @property
    def versions(self) -> dict[str, str]:
        return self.record.get("versions") or {
            "cnnlab": self.record.get("cnnlab_version", "?"),
            "torch": self.record.get("torch_version", "?"),
        }

    @property
    def metrics(self) -> list[dict[str, Any]]:
        return self.folder.read_metrics()

    @property
    def summary(self) -> dict[str, Any] | None:
        return self.folder.read_summary()

    # -- in a notebook -------------------------------------------------------------------
    def facts(self) -> dict[str, str]:
        """What a run is, in a few words each: model, dataset, epochs, final test accuracy,
        training time (from its summary, or its last epoch for a stopped run)."""
        metrics = self.metrics
        last = metrics[-1] if metrics else {}
        summary = self.summary or {}
        done = summary.get("epochs", last.get("epoch", 0))
        planned = self.config.epochs
        acc = summary.get("test_accuracy", last.get("test_accuracy"))
        top5 = summary.get("test_top5_accuracy", last.get("test_top5_accuracy"))
        seconds = summary.get("train_seconds", last.get("train_seconds"))
        facts = {
            "model": self.config.model,
            "dataset": self.config.dataset
            + (f" ({self.config.train_subset:,} training images)" if self.config.train_subset else ""),
            "epochs": f"{done}" + (f" of {planned}" if done != planned else ""),
            "test accuracy": "none yet"
            if acc is None
            else f"{100 * acc:.2f}%" + (f" (top-5 {100 * top5:.2f}%)" if top5 is not None else ""),
            "training time": "none yet" if seconds is None else f"{seconds:,.1f} s",
            "status": summary.get("status", "stopped (no summary.json)" if metrics else "not trained"),
            "folder": str(self.path),
        }
        return facts

    def curves(self) -> Picture:
        """The run's loss and accuracy curves (its curves.png) as a picture."""
        file = self.path / RunDir.CURVES
        if not file.is_file():
            raise CnnlabError(
                f"{file} does not exist (the run was trained without matplotlib, the plot extra); "
                "draw the curves with cnnlab.train.plot.curves_figure(run.metrics)"
            )
        return Picture.from_png(file.read_bytes(), f"{self.name}: curves")

    def __repr__(self) -> str:
        f = self.facts()
        return f"<Run {f['folder']}: {f['model']} on {f['dataset']}, {f['epochs']} epochs, test accuracy {f['test accuracy']}>"

    def _repr_html_(self) -> str:
        rows = "".join(
            f'<tr><th style="text-align:left;padding:1px 12px 1px 0">{html.escape(k)}</th>'
            f'<td style="text-align:left">{html.escape(v)}</td></tr>'
            for k, v in self.facts().items()
        )
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        file = self.path / RunDir.CURVES
        img = ""
        if file.is_file():
            data = base64.b64encode(file.read_bytes()).decode("ascii")
            img = f'<img alt="loss and accuracy curves" style="width:760px;max-width:100%" src="data:image/png;base64,{data}">'
        return f'<div class="cnnlab-run"><table style="font-size:13px">{rows}</table>{notes}{img}</div>'

    def build(self) -> nn.Module:
        """The model with fresh weights, built as the run built it."""
        args = self.model_args
        return get_spec(self.config.model).build(
            num_classes=int(args["num_classes"]),
            in_channels=int(args["in_channels"]),
            input_size=tuple(args["input_size"]),
        )

    def model(self, device: str | torch.device = "cpu") -> nn.Module:
        """The trained model on ``device`` ("auto" picks one), in eval mode."""
        dev = device if isinstance(device, torch.device) else resolve_device(device)
        memory_format = torch.channels_last if self.config.channels_last else torch.contiguous_format
        model = self.folder.load_weights(self.build(), device="cpu").to(dev)
        model = model.to(memory_format=memory_format)  # pyright: ignore[reportCallIssue]
        return model.eval()

    def preprocess(self, images: Tensor) -> Tensor:
        """uint8 (0-255) or float (0-1) images -> the model's input; see :class:`Pipeline`."""
        return self.pipeline.preprocess(images)

    def data(self, device: str | torch.device = "cpu", data_dir: str | None = None, subsets: bool = False):
        """(train, test) of the run's dataset as the run fed them (--resize, gray to RGB);
        ``subsets``: cut to the run's --train-subset / --test-subset. Always the real test set: a
        run trained with --validation was evaluated on held-out training images, but what it is
        used for afterwards (eval, serve, viz) sees the test set."""
        cfg = dataclasses.replace(self.config, data_dir=data_dir or self.config.data_dir, validation=0)
        if not subsets:
            cfg = dataclasses.replace(cfg, train_subset=0, test_subset=0)
        return adapted_data(cfg, torch.device(device) if isinstance(device, str) else device, quiet=True)

    @cached_property
    def test_data(self):
        """The test split, adapted, on the CPU (loaded once)."""
        return self.data()[1]


def derived_pipeline(cfg: TrainConfig, model_args: dict[str, Any]) -> Pipeline:
    """What a run that recorded no pipeline was fed: its dataset's statistics at its input shape."""
    shape = (int(model_args["in_channels"]), *(int(v) for v in model_args["input_size"]))
    return Pipeline.for_dataset(cfg.dataset, shape, resize=cfg.resize)  # type: ignore[arg-type]


def adapted_data(cfg: TrainConfig, device: torch.device, quiet: bool):
    """(train, test), adapted to the model: subsets, --resize, gray repeated to RGB when needed.

    >>> cfg = TrainConfig(model="alexnet", resize=64, train_subset=100, test_subset=50)
    >>> train, test = adapted_data(cfg, torch.device("cpu"), quiet=True)   # doctest: +SKIP
    >>> len(train), test.shape                                             # doctest: +SKIP
    (100, (3, 64, 64))
    """
    spec = get_spec(cfg.model)
    workers = None if cfg.workers < 0 else cfg.workers
    train, test = load_dataset(
        cfg.dataset, cfg.data_dir, device=device, quiet=quiet, resize=cfg.resize, workers=workers
    )
    needs_rgb = bool(cfg.resize) and spec.input_shape is not None and spec.input_shape[0] == 3 and train.shape[0] == 1
    if needs_rgb:
        train, test = (dataclasses.replace(d, rgb=True) for d in (train, test))
    if cfg.validation:
        train, test = validation_split(train, cfg.validation)
    if cfg.train_subset:
        train = train.subset(slice(0, cfg.train_subset))
    if cfg.test_subset:
        test = test.subset(slice(0, cfg.test_subset))
    return train, test


VALIDATION_SEED = 0  # the held-out draw does not move with --seed: every run of a sweep sees the same split


def validation_split(train, n: int):
    """(the rest, ``n`` held-out images) of ``train``: a fixed random draw, each part in its original order.

    >>> from cnnlab.data.memory import ImageTensors                     # doctest: +SKIP
    >>> rest, held = validation_split(train, 10000)                    # doctest: +SKIP
    >>> len(rest), len(held)                                           # doctest: +SKIP
    (50000, 10000)
    """
    from cnnlab.data.imagefolder import FolderImages

    if isinstance(train, FolderImages):  # its training images come through the random crops and flips
        raise CnnlabError(
            "--validation holds out images of an in-memory dataset (mnist, fashion-mnist, cifar10, cifar100); "
            "for an image folder, move some training images into a folder of their own and pass that as val/"
        )
    if not 0 < n < len(train):
        raise CnnlabError(
            f"--validation {n} must leave training images: the training set has {len(train):,}; "
            f"give a number from 1 to {len(train) - 1:,}"
        )
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(VALIDATION_SEED))
    return train.subset(order[n:].sort().values), train.subset(order[:n].sort().values)


def pipeline_of(data, cfg: TrainConfig) -> Pipeline:
    """The pipeline a training run records: the shape, statistics and classes of its batches."""
    c = data.shape[0]
    mean, std = tuple(data.mean), tuple(data.std)
    if len(mean) != c:  # gray repeated to RGB
        mean, std = mean * c, std * c
    return Pipeline.for_dataset(
        cfg.dataset, tuple(data.shape), resize=cfg.resize, classes=tuple(data.classes), mean=mean, std=std
    )


def load_run(run_dir: str | Path, device: str = "auto") -> tuple[nn.Module, TrainConfig, RunDir]:
    """The trained model of a run folder, its config, and the folder (kept for older callers;
    :class:`Run` gives the pipeline and metrics too).

    >>> model, cfg, folder = load_run("runs/lenet5-mnist", device="cpu")   # doctest: +SKIP
    >>> cfg.model, type(model).__name__, folder.path.name                 # doctest: +SKIP
    ('lenet5', 'LeNet5', 'lenet5-mnist')
    """
    run = Run.open(run_dir)
    return run.model(device), run.config, run.folder
