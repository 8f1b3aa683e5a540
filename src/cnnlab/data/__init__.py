"""Datasets: MNIST and Fashion-MNIST from their IDX files, held in memory.

>>> from cnnlab.data import load_dataset
>>> train, test = load_dataset("mnist")          # doctest: +SKIP
>>> train.images.shape, test.labels.shape          # doctest: +SKIP
(torch.Size([60000, 1, 28, 28]), torch.Size([10000]))
"""

from __future__ import annotations

import dataclasses
import os

import torch

from cnnlab.data.idx_datasets import IDX_DATASETS, load_idx_split, locate
from cnnlab.data.memory import ImageTensors
from cnnlab.errors import DataError

__all__ = ["ImageTensors", "list_datasets", "load_dataset"]


IN_MEMORY = ("mnist", "fashion-mnist", "cifar10", "cifar100")


def list_datasets() -> list[str]:
    """The names ``load_dataset`` (and ``cnnlab train --dataset``) accepts.

    >>> list_datasets()
    ['mnist', 'fashion-mnist', 'cifar10', 'cifar100', 'imagefolder']
    """
    return [*IN_MEMORY, "imagefolder"]


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    device: torch.device | str = "cpu",
    quiet: bool = False,
    resize: int = 0,
    rgb: bool = False,
    workers: int | None = None,
):
    """(train, test) of a named dataset, located, checksum-verified and moved to ``device``.

    MNIST, Fashion-MNIST and CIFAR are held in memory (``ImageTensors``); ``imagefolder`` is an
    image tree under ``data_dir`` decoded by DataLoader workers (``FolderImages``, crops of
    ``resize`` px, default 224). ``resize``/``rgb`` adapt in-memory data to a model's input.

    >>> train, test = load_dataset("mnist")   # doctest: +SKIP
    >>> len(train), len(test), test.shape, test.classes[:3]   # doctest: +SKIP
    (60000, 10000, (1, 28, 28), ('0', '1', '2'))
    """
    if name in ("cifar10", "cifar100"):
        from cnnlab.data.cifar import load_cifar

        splits = load_cifar(name, data_dir, quiet)
    elif name == "imagefolder":
        from cnnlab.data.imagefolder import load_imagefolder

        return load_imagefolder(data_dir, size=resize or 224, workers=workers, device=device)
    elif name in IDX_DATASETS:
        splits = _load_idx(IDX_DATASETS[name], data_dir, quiet)
    else:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(list_datasets())}")
    train, test = (dataclasses.replace(s, resize=resize, rgb=rgb).to(device) for s in splits)
    return train, test


def _load_idx(spec, data_dir, quiet) -> tuple[ImageTensors, ImageTensors]:
    paths = locate(spec, data_dir, quiet=quiet)
    splits = []
    for images_file, labels_file in ((spec.train_images, spec.train_labels), (spec.test_images, spec.test_labels)):
        images, labels = load_idx_split(
            paths[images_file.name], paths[labels_file.name], images_file.raw_md5, labels_file.raw_md5
        )
        splits.append(
            ImageTensors(
                images=torch.from_numpy(images).unsqueeze(1),  # (N, 1, 28, 28) uint8
                labels=torch.from_numpy(labels).long(),
                mean=(spec.mean,),
                std=(spec.std,),
                classes=spec.classes,
                name=spec.name,
            )
        )
    return splits[0], splits[1]
