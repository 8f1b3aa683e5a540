"""The training configuration: one frozen dataclass, stored in every run folder."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from cnnlab.errors import CnnlabError


@dataclass(frozen=True)
class TrainConfig:
    model: str = "lenet5"  # registry name (`cnnlab models`)
    dataset: str = "mnist"  # mnist | fashion-mnist
    epochs: int = 5  # passes over the training set
    batch_size: int = 128  # images per optimizer step
    lr: float = 3e-3  # peak learning rate (of the one-cycle schedule)
    optimizer: str = "adamw"  # adamw | sgd (Nesterov momentum)
    # SGD momentum; AdamW's beta1. Under the onecycle schedule OneCycleLR cycles it instead
    # (0.95 -> 0.85 at the peak -> 0.95, Smith 2018) unless cycle_momentum is False;
    # config.json's "optimizer" records what ran.
    momentum: float = 0.9
    beta2: float = 0.999  # AdamW's second-moment decay (0.9: a short memory, for runs of a few hundred steps)
    cycle_momentum: bool = True  # onecycle also cycles the momentum / beta1 (False: keep `momentum` throughout)
    weight_decay: float = 0.0  # decoupled weight decay (AdamW) or L2 (SGD)
    schedule: str = "onecycle"  # onecycle | cosine | constant
    warmup: float = 0.25  # fraction of all steps spent warming up (onecycle, cosine)
    label_smoothing: float = 0.1  # cross-entropy target smoothing; 0 for plain cross-entropy
    # keep an exponential moving average of the weights (and BatchNorm statistics), updated after
    # every step with this decay, and evaluate and save it instead of the last weights (0: off)
    ema: float = 0.0
    augment: str = "none"  # training augmentation (`cnnlab.data.augment`): none | shift | affine | shift+flip | shift+flip+erase | ...
    seed: int = 0  # seeds weights, shuffling and augmentation; CPU runs repeat to the last digit
    device: str = "auto"  # auto | cpu | cuda[:N] | mps
    data_dir: str | None = None  # where datasets live (else $CNNLAB_DATA, else ~/.cache/cnnlab)
    channels_last: bool = True  # NHWC activations: faster conv kernels on CPU (oneDNN) and GPU
    eval_batch_size: int = 1000  # images per evaluation forward pass
    train_subset: int = 0  # train on the first N training images only (0: all); for quick tests
    test_subset: int = 0  # evaluate on the first N test images only (0: all); for quick tests
    # hold out N training images (a fixed random draw, the same for every seed) and evaluate on
    # them instead of the test set: choose a recipe without looking at the test set (0: off)
    validation: int = 0
    sync_every: int = 25  # steps between host reads of the loss (progress bar, divergence check)
    threads: int = 0  # CPU threads for torch (0: torch's default, one per physical core)
    amp: str = "none"  # autocast precision: none | bf16 | fp16 (fp16 adds a gradient scaler on CUDA)
    compile: bool = False  # torch.compile the model (compile time is not training time; GPU mostly)
    checkpoint_every: int = 500  # also checkpoint every N steps (0: only at the end of each epoch)
    resize: int = 0  # resize images to N×N on the fly (gray is repeated to RGB for 3-channel models)
    workers: int = -1  # DataLoader worker processes for image folders (-1: up to 8)
    tensorboard: bool = False  # write TensorBoard logs to RUN_DIR/tensorboard

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise CnnlabError(f"--{f.name.replace('_', '-')} must be a finite number, got {value}")
        rules = [  # (field, ok, what it must be)
            ("epochs", self.epochs >= 1, "at least 1"),
            ("batch_size", self.batch_size >= 1, "at least 1"),
            ("lr", self.lr > 0, "positive"),
            ("momentum", 0 <= self.momentum < 1, "in [0, 1)"),
            ("beta2", 0 <= self.beta2 < 1, "in [0, 1)"),
            ("optimizer", self.optimizer in ("adamw", "sgd"), "adamw or sgd"),
            ("schedule", self.schedule in ("onecycle", "cosine", "constant"), "onecycle, cosine or constant"),
            ("warmup", 0 <= self.warmup < 1, "in [0, 1)"),
            ("label_smoothing", 0 <= self.label_smoothing < 1, "in [0, 1)"),
            ("ema", 0 <= self.ema < 1, "in [0, 1) (0: off; 0.999 averages about the last 1,000 steps)"),
            ("weight_decay", self.weight_decay >= 0, "non-negative"),
            ("train_subset", self.train_subset >= 0, "non-negative"),
            ("test_subset", self.test_subset >= 0, "non-negative"),
            ("validation", self.validation >= 0, "non-negative"),
            ("sync_every", self.sync_every >= 1, "at least 1"),
            ("eval_batch_size", self.eval_batch_size >= 1, "at least 1"),
            ("threads", self.threads >= 0, "non-negative"),
            ("amp", self.amp in ("none", "bf16", "fp16"), "none, bf16 or fp16"),
            ("checkpoint_every", self.checkpoint_every >= 0, "non-negative"),
            ("resize", self.resize >= 0, "non-negative"),
        ]
        for name, ok, rule in rules:
            if not ok:
                flag = "--" + name.replace("_", "-")
                raise CnnlabError(f"{flag} must be {rule}, got {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Rebuild a stored config; fields this version does not know are an error."""
        if not isinstance(d, dict):
            raise CnnlabError(f"a stored config must be a JSON object, got {type(d).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise CnnlabError(f"config has unknown fields {unknown}; was it written by a newer cnnlab?")
        for name, value in d.items():
            kind = _TYPES.get(known[name].type)
            fits = kind is None or (isinstance(value, kind) and not (kind is int and isinstance(value, bool)))
            if not fits and not (value is None and "None" in str(known[name].type)):
                raise CnnlabError(f"config field {name} is {value!r}, not a {known[name].type}")
        return cls(**d)


# the annotation strings (``from __future__ import annotations``) of TrainConfig's fields -> types
_TYPES: dict[Any, Any] = {"int": int, "float": (int, float), "str": str, "bool": bool, "str | None": str}
