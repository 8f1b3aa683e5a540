"""Datasets: MNIST and Fashion-MNIST from their IDX files, held in memory.

>>> from cnnlab.data import load_dataset
>>> train, test = load_dataset("mnist")          # doctest: +SKIP
>>> train.images.shape, test.labels.shape          # doctest: +SKIP
(torch.Size([60000, 1, 28, 28]), torch.Size([10000]))
"""

from __future__ import annotations

import os

import torch

from cnnlab.data.idx_datasets import IDX_DATASETS, load_idx_split, locate
from cnnlab.data.memory import ImageTensors
from cnnlab.errors import DataError

__all__ = ["ImageTensors", "list_datasets", "load_dataset"]


def list_datasets() -> list[str]:
    return sorted(IDX_DATASETS)


def load_dataset(
    name: str, data_dir: str | os.PathLike | None = None, device: torch.device | str = "cpu", quiet: bool = False
) -> tuple[ImageTensors, ImageTensors]:
    """(train, test) of a named dataset, located, checksum-verified and moved to ``device``."""
    spec = IDX_DATASETS.get(name)
    if spec is None:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(list_datasets())}")
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
            ).to(device)
        )
    return splits[0], splits[1]
