"""What the viz commands look at: a trained run folder, or a model by name (random or
pretrained weights), with its input shape and normalization."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class Subject:
    model: nn.Module
    name: str  # for captions
    input_shape: tuple[int, int, int]  # (C, H, W)
    mean: tuple[float, ...]  # input normalization, per channel, [0, 1] units
    std: tuple[float, ...]
    dataset: str | None  # the run's dataset, if any
    data_dir: str | None = None
    classes: tuple[str, ...] | None = None


def load_subject(target: str, weights: str | None = None, device: str = "cpu") -> Subject:
    """A run folder (trained weights, its dataset's statistics) or a registered model name."""
    from cnnlab.data.idx_datasets import IDX_DATASETS
    from cnnlab.models import get_spec

    path = Path(target)
    if path.is_dir():
        from cnnlab.train.run import load_run

        model, cfg, run = load_run(path, device=device)
        _, args = run.read_config()
        spec = IDX_DATASETS.get(cfg.dataset)
        c = args["in_channels"]
        mean, std = ((spec.mean,) * c, (spec.std,) * c) if spec else ((0.5,) * c, (0.25,) * c)
        return Subject(
            model,
            f"{cfg.model} ({path.name})",
            (c, *args["input_size"]),
            mean,
            std,
            cfg.dataset,
            cfg.data_dir,
            spec.classes if spec else None,
        )
    spec = get_spec(target)
    shape = spec.input_shape or (1, 28, 28)
    kwargs = {"weights": weights} if weights else {}
    model = spec.build(num_classes=spec.num_classes, in_channels=shape[0], input_size=shape[1:], **kwargs).to(device)
    if shape[0] == 3:
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    else:
        mean, std = (IDX_DATASETS["mnist"].mean,), (IDX_DATASETS["mnist"].std,)
    label = f"{target} ({'weights ' + weights if weights else 'random weights'})"
    return Subject(model, label, shape, mean, std, None)
