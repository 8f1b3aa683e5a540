"""A run folder: everything one training run leaves behind, each file written atomically.

config.json         the TrainConfig, the model's constructor arguments, the input pipeline,
                    the optimizer as it really runs, versions
metrics.jsonl       one JSON line per epoch
model.safetensors   the final weights (safe to load from anyone: no pickle)
curves.png          loss and accuracy curves
summary.json        the final result (what `cnnlab train --json` prints)
checkpoint.pt       the latest checkpoint (`cnnlab train --resume`), and checkpoint.prev.pt
                    the one before it, kept in case the latest is damaged
tensorboard/        with --tensorboard

A new run goes only into a folder that does not exist yet or is empty: nothing a user put
there is overwritten. A folder that already holds a run is continued with ``--resume``.
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
from cnnlab.runs.config import TrainConfig

FORMAT = 2  # config.json layout: 2 records "pipeline" and "optimizer"; 1 (no "format") did not


def versions() -> dict[str, str]:
    import numpy
    import torchvision

    return {
        "cnnlab": __version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


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
        """A new run folder: ``out`` if given (it must not exist yet or be empty), else
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
            if path.exists() and not path.is_dir():
                raise CnnlabError(f"--out {path} is a file, not a folder; choose a new folder name")
            if (path / cls.CONFIG).exists():
                raise CnnlabError(
                    f"--out {path} already holds a run; continue it with --resume {path}, or choose a new folder"
                )
            if path.is_dir():
                try:
                    held = sorted(p.name for p in path.iterdir())
                except OSError as e:
                    raise CnnlabError(f"--out {path} cannot be read ({e.strerror}); choose another folder") from None
                if held:
                    shown = ", ".join(held[:3]) + (f" and {len(held) - 3} more" if len(held) > 3 else "")
                    raise CnnlabError(
                        f"--out {path} is not empty ({shown}) and not a cnnlab run; "
                        "choose a new or empty folder so nothing there is overwritten"
                    )
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CnnlabError(f"--out {path} cannot be created ({e.strerror}); choose a writable folder") from None
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
    def write_config(self, cfg: TrainConfig, model_args: dict[str, Any], **record: Any) -> None:
        """config.json: the config, the model's constructor arguments, and ``record`` (the
        input pipeline, the effective optimizer), with the versions that ran."""
        atomic.write_json(
            self.path / self.CONFIG,
            {
                "format": FORMAT,
                "config": cfg.to_dict(),
                "model_args": model_args,
                **record,
                "versions": versions(),
                "cnnlab_version": __version__,
                "torch_version": torch.__version__,
                "python": platform.python_version(),
                "created": _dt.datetime.now().isoformat(timespec="seconds"),
            },
        )

    def read_record(self) -> dict[str, Any]:
        """config.json as stored (a JSON object with "config" and "model_args" at least)."""
        file = self.path / self.CONFIG
        try:
            stored = json.loads(file.read_bytes().decode("utf-8"))
            if not isinstance(stored, dict) or not isinstance(stored.get("config"), dict):
                raise ValueError("no config object")
            args = stored.get("model_args")
            if not isinstance(args, dict) or not {"num_classes", "in_channels", "input_size"} <= set(args):
                raise ValueError("no model_args with num_classes, in_channels, input_size")
        except (OSError, UnicodeDecodeError, ValueError) as e:
            reason = type(e).__name__ if isinstance(e, UnicodeDecodeError) else " ".join(str(e).split())[:80]
            raise CheckpointError(
                f"{file}: unreadable run config ({reason}); the run folder is damaged (train it again)"
            ) from None
        return stored

    def read_config(self) -> tuple[TrainConfig, dict[str, Any]]:
        stored = self.read_record()
        try:
            return TrainConfig.from_dict(stored["config"]), stored["model_args"]
        except (CnnlabError, TypeError) as e:
            raise CheckpointError(f"{self.path / self.CONFIG}: unreadable run config ({e})") from None

    # -- metrics -------------------------------------------------------------
    def append_metrics(self, row: dict[str, Any]) -> None:
        atomic.append_line(self.path / self.METRICS, json.dumps(row))

    def read_metrics(self, lines: int | None = None) -> list[dict[str, Any]]:
        """The epochs' rows (the first ``lines`` of them if given); a damaged line is one error line."""
        file = self.path / self.METRICS
        if not file.exists():
            return []
        try:
            text = file.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{file} cannot be read ({type(e).__name__}); the run folder is damaged") from None
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if lines is not None and len(rows) >= lines:
                break
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or not isinstance(row.get("epoch"), int):
                    raise ValueError("no epoch number")
            except ValueError as e:
                raise CheckpointError(
                    f"{file} line {number} is not a metrics row ({' '.join(str(e).split())[:60]}); "
                    "the run folder is damaged: delete that line or train again"
                ) from None
            rows.append(row)
        return rows

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        """Replace metrics.jsonl with ``rows`` in one atomic rename (resume cuts it back to its checkpoint)."""
        atomic.write_text(self.path / self.METRICS, "".join(json.dumps(r) + "\n" for r in rows))

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
            reason = " ".join(str(e).split())[:100] or type(e).__name__
            raise CheckpointError(
                f"{file}: corrupt or truncated weights file ({reason}); train the run again"
            ) from None
        load_state(model, state, str(file))
        return model

    # -- summary -------------------------------------------------------------
    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic.write_json(self.path / self.SUMMARY, summary)

    def read_summary(self) -> dict[str, Any] | None:
        file = self.path / self.SUMMARY
        try:
            return json.loads(file.read_bytes().decode("utf-8")) if file.is_file() else None
        except (OSError, UnicodeDecodeError, ValueError):
            return None


def load_state(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """``model.load_state_dict(state)``, with a mismatch told in one line: which tensors are
    missing, unexpected or of another shape."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} is {'×'.join(map(str, state[k].shape))} there, {'×'.join(map(str, own[k].shape))} in the model"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    problems = (
        (
            [f"missing {', '.join(missing[:3])}" + (f" (+{len(missing) - 3})" if len(missing) > 3 else "")]
            if missing
            else []
        )
        + ([f"unexpected {', '.join(unexpected[:3])}"] if unexpected else [])
        + shapes[:2]
        + ([f"{len(shapes) - 2} more of another shape"] if len(shapes) > 2 else [])
    )
    if problems:
        raise CheckpointError(
            f"{source} does not fit model {type(model).__name__}: {'; '.join(problems)}; "
            "the weights and the run's config.json disagree (train the run again)"
        )
    model.load_state_dict(state, strict=True)
