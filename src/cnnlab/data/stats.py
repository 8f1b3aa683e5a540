"""Input statistics and class names of the datasets cnnlab knows, by dataset name.

A run folder records its own pipeline; this table is what a run written before that
(or a model loaded by name) is normalized with.

>>> stats("mnist").mean
(0.1307,)
>>> stats("imagefolder").std
(0.229, 0.224, 0.225)
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnlab.data.cifar import CIFAR
from cnnlab.data.idx_datasets import IDX_DATASETS

# torchvision's ImageNet statistics, [0, 1] pixel units: what its pretrained weights expect
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass(frozen=True)
class Stats:
    mean: tuple[float, ...]  # per channel, [0, 1] pixel units
    std: tuple[float, ...]
    classes: tuple[str, ...] | None  # None: read from the data (image folders, CIFAR-100)


def stats(dataset: str) -> Stats:
    """The statistics a dataset is normalized with (ImageNet's for image folders)."""
    if dataset in IDX_DATASETS:
        spec = IDX_DATASETS[dataset]
        return Stats((spec.mean,), (spec.std,), spec.classes)
    if dataset in CIFAR:
        return Stats(CIFAR[dataset].mean, CIFAR[dataset].std, CIFAR10_CLASSES if dataset == "cifar10" else None)
    return Stats(IMAGENET_MEAN, IMAGENET_STD, None)
