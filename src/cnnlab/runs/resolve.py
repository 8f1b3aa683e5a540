"""The one way every command turns "a run folder or a model name" into a model and its pipeline.

>>> s = resolve("lenet5")
>>> s.input_shape, s.run is None
((1, 28, 28), True)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from cnnlab.device import resolve_device
from cnnlab.errors import CnnlabError
from cnnlab.models import get_spec
from cnnlab.runs.pipeline import Pipeline
from cnnlab.runs.run import Run


@dataclass
class Subject:
    """A model ready to use, with what it expects as input."""

    model: nn.Module  # in eval mode
    name: str  # for captions: "lenet5 (run-folder)" or "resnet18 (weights DEFAULT)"
    pipeline: Pipeline
    run: Run | None = None  # the run folder it came from, if any

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.pipeline.input_shape

    @property
    def mean(self) -> tuple[float, ...]:
        return self.pipeline.mean

    @property
    def std(self) -> tuple[float, ...]:
        return self.pipeline.std

    @property
    def dataset(self) -> str | None:
        return self.pipeline.dataset

    @property
    def classes(self) -> tuple[str, ...] | None:
        return self.pipeline.classes

    @property
    def data_dir(self) -> str | None:
        return self.run.config.data_dir if self.run else None

    def preprocess(self, images: Tensor) -> Tensor:
        return self.pipeline.preprocess(images)


def resolve(
    target: str | Path,
    weights: str | None = None,
    device: str | torch.device = "cpu",
    input_shape: tuple[int, int, int] | None = None,
    num_classes: int | None = None,
    source: str | None = None,
) -> Subject:
    """A run folder (its trained weights and recorded pipeline) or a registered model name
    (random weights, or ``weights`` such as ``DEFAULT`` for torchvision's pretrained ones),
    built for ``input_shape`` (C, H, W; default the model's own, or 1×28×28) and ``num_classes``
    (``source`` names where that shape came from, for the error when the model cannot take it).

    >>> subject = resolve("lenet5")
    >>> subject.name, subject.input_shape, subject.mean
    ('lenet5 (random weights)', (1, 28, 28), (0.1307,))
    """
    path = Path(target)
    if path.is_dir():
        if weights:
            raise CnnlabError(f"--weights is for a model name; {path} is a run folder with its own weights")
        run = Run.open(path)
        return Subject(run.model(device), run.name, run.pipeline, run)
    if path.exists() or str(target).endswith(("/", ".json")):
        raise CnnlabError(f"{target} is not a run folder or a model name; pass a `cnnlab train` --out folder")
    spec = get_spec(str(target))
    c, h, w = input_shape or spec.input_shape or (1, 28, 28)
    shape = (c, h, w)
    spec.check_input(c, (h, w), source=source or f"the input {'×'.join(map(str, shape))}")
    kwargs = {"weights": weights} if weights else {}
    classes = spec.num_classes if num_classes is None or weights else num_classes
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    model = spec.build(num_classes=classes, in_channels=c, input_size=(h, w), **kwargs).to(dev).eval()
    label = f"{target} ({'weights ' + weights if weights else 'random weights'})"
    return Subject(model, label, Pipeline.for_model(shape), None)
