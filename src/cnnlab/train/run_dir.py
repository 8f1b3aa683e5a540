"""A run folder: everything one training run leaves behind, each file written atomically.

config.json         the TrainConfig, the model's constructor arguments, versions
metrics.jsonl       one JSON line per epoch
model.safetensors   the final weights (safe to load from anyone: no pickle)
curves.png          loss and accuracy curves
summary.json        the final result (what `cnnlab train --json` prints)
checkpoint.pt       the latest checkpoint (`cnnlab train --resume`), and checkpoint.prev.pt
                    the one before it, kept in case the latest is damaged
tensorboard/        with --tensorboard
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from safetensors import SafetensorError
from torch import nn

from cnnlab import __version__, atomic
from cnnlab.errors import CheckpointError, CnnlabError
from cnnlab.train.config import TrainConfig


@dataclass(frozen=True)
class RunDir:
    path: Path

    CONFIG = "config.json"
    METRICS = "metrics.jsonl"
    WEIGHTS = "model.safetensors"
    CURVES = "curves.png"
    SUMMARY = "summary.json"

    @classmethod
    def create(cls, out: str | Path | None, cfg: TrainConfig) -> RunDir:
        """A new run folder: ``out`` if given (it must not hold a run yet), else
        ``runs/<model>-<dataset>-<time>``."""
        if out is None:
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            base = Path("runs") / f"{cfg.model}-{cfg.dataset}-{stamp}"
            path, n = base, 1
            while path.exists():
                n += 1
                path = base.with_name(f"{base.name}-{n}")
        else:
            path = Path(out)
            if (path / cls.CONFIG).exists():
                raise CnnlabError(f"--out {path} already holds a run; choose a new folder so nothing is overwritten")
            if path.exists() and not path.is_dir():
                raise CnnlabError(f"--out {path} is a file, not a folder; choose a folder name")
        path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        path = Path(path)
        if not path.is_dir():
            raise CheckpointError(f"run folder {path} does not exist; pass the --out folder of a `cnnlab train` run")
        if not (path / cls.CONFIG).is_file():
            raise CheckpointError(
                f"{path} is not a cnnlab run folder (no {cls.CONFIG}); pass the folder `cnnlab train` printed"
            )
        return cls(path)

    # -- config --------------------------------------------------------------
    def write_config(self, cfg: TrainConfig, model_args: dict[str, Any]) -> None:
        atomic.write_json(
            self.path / self.CONFIG,
            {
                "config": cfg.to_dict(),
                "model_args": model_args,
                "cnnlab_version": __version__,
                "torch_version": torch.__version__,
                "python": platform.python_version(),
                "created": _dt.datetime.now().isoformat(timespec="seconds"),
            },
        )

    def read_config(self) -> tuple[TrainConfig, dict[str, Any]]:
        file = self.path / self.CONFIG
        try:
            stored = json.loads(file.read_text())
            return TrainConfig.from_dict(stored["config"]), stored["model_args"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise CheckpointError(f"{file}: unreadable run config ({e}); the run folder is damaged") from None

    # -- metrics -------------------------------------------------------------
    def append_metrics(self, row: dict[str, Any]) -> None:
        atomic.append_line(self.path / self.METRICS, json.dumps(row))

    def read_metrics(self) -> list[dict[str, Any]]:
        file = self.path / self.METRICS
        if not file.exists():
            return []
        return [json.loads(line) for line in file.read_text().splitlines() if line.strip()]

    # -- weights -------------------------------------------------------------
    def save_weights(self, model: nn.Module, metadata: dict[str, str] | None = None) -> None:
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
        atomic.write_with(
            self.path / self.WEIGHTS,
            lambda tmp: safetensors.torch.save_file(tensors, str(tmp), metadata=metadata or {}),
        )

    def load_weights(self, model: nn.Module, device: torch.device | str = "cpu") -> nn.Module:
        file = self.path / self.WEIGHTS
        if not file.is_file():
            raise CheckpointError(f"{file} not found: the run did not finish; train it again or use another run")
        try:
            state = safetensors.torch.load_file(str(file), device=str(device))
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"{file}: corrupt or truncated weights file ({e}); train the run again") from None
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0]
            raise CheckpointError(f"{file} does not fit model {type(model).__name__}: {first}") from None
        return model

    # -- summary -------------------------------------------------------------
    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic.write_json(self.path / self.SUMMARY, summary)
