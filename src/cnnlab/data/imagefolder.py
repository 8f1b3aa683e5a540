"""Image trees in ImageNet's layout, decoded in DataLoader worker processes.

    ROOT/train/<class>/*.jpg        ROOT/val/<class>/*.jpg

(ImageNet's validation images must be sorted into class folders, as torchvision's and
PyTorch's reference scripts expect.) Training images get the standard augmentation
(random resized crop, horizontal flip); evaluation images are resized and centre-cropped.
The interface matches ``ImageTensors``, so the training loop does not care which it gets.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from cnnlab.data.stats import IMAGENET_MEAN, IMAGENET_STD
from cnnlab.errors import DataError


def build_transform(train: bool, size: int, mean, std):
    from torchvision.transforms import v2

    if train:
        geometry = [v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()]
    else:
        geometry = [v2.Resize(int(round(size / 0.875)), antialias=True), v2.CenterCrop(size)]
    return v2.Compose(
        [v2.ToImage(), *geometry, v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    )


@dataclass
class FolderImages:
    """One split of an image tree; ``batches`` yields normalized (x, y) on ``device``."""

    dataset: Any  # a map-style torch Dataset: ImageFolder, or a Subset of one
    classes: tuple[str, ...]
    size: int  # side of the square crops
    mean: tuple[float, ...]
    std: tuple[float, ...]
    workers: int
    device: torch.device
    name: str = "imagefolder"

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (3, self.size, self.size)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def num_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)

    def to(self, device) -> FolderImages:
        self.device = torch.device(device)
        return self

    def subset(self, index: slice | torch.Tensor) -> FolderImages:
        indices = list(range(len(self)))[index] if isinstance(index, slice) else index.tolist()
        return FolderImages(
            torch.utils.data.Subset(self.dataset, indices),
            self.classes,
            self.size,
            self.mean,
            self.std,
            self.workers,
            self.device,
            self.name,
        )

    def batches(
        self,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        augment: Callable | None = None,
        memory_format: torch.memory_format = torch.contiguous_format,
        start: int = 0,
        order: Tensor | None = None,
        shard: tuple[int, int] = (0, 1),
    ) -> Iterator[tuple[Tensor, Tensor]]:
        if order is None:
            order = torch.randperm(len(self), generator=generator) if shuffle else torch.arange(len(self))
        rank, world = shard
        rest = order[start * batch_size :].tolist()
        # the global batches, each cut to this process's share (all processes agree on `order`)
        batch_sampler = [rest[i : i + batch_size][rank::world] for i in range(0, len(rest), batch_size)]
        loader = DataLoader(
            self.dataset,
            batch_sampler=[b for b in batch_sampler if b],
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
        )
        try:
            for x, y in loader:
                x = x.to(self.device, non_blocking=True).contiguous(memory_format=memory_format)
                yield x, y.to(self.device, non_blocking=True)
        except DataError as e:  # from a worker, torch puts the worker's whole traceback in the message
            raise DataError(str(e).strip().splitlines()[-1].removeprefix("cnnlab.errors.DataError: ")) from None


def load_image_file(path: str):
    """ImageFolder's loader, with a file that is not an image named in one line (issue 14)."""
    from PIL import Image

    try:
        with open(path, "rb") as f:
            return Image.open(f).convert("RGB")
    except OSError as e:  # PIL.UnidentifiedImageError is an OSError; so is a truncated file
        raise DataError(f"{path} is not a readable image ({e.__class__.__name__}); remove or replace it") from None


def load_imagefolder(
    root: str | os.PathLike | None,
    size: int = 224,
    workers: int | None = None,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    device: torch.device | str = "cpu",
) -> tuple[FolderImages, FolderImages]:
    from torchvision.datasets import ImageFolder

    if root is None:
        raise DataError(
            "imagefolder needs --data-dir ROOT, with ROOT/train/<class>/ and ROOT/val/<class>/ image folders"
        )
    root = Path(root)
    for split in ("train", "val"):
        if not (root / split).is_dir():
            raise DataError(
                f"{root / split} not found: an image tree needs {root}/train/<class>/*.jpg and {root}/val/<class>/*.jpg"
            )
    splits = []
    for split in ("train", "val"):
        folder = root / split
        try:
            ds = ImageFolder(
                str(folder), transform=build_transform(split == "train", size, mean, std), loader=load_image_file
            )
        except (FileNotFoundError, RuntimeError) as e:
            raise DataError(f"{folder}: {e}; put images in one sub-folder per class") from None
        splits.append(ds)
    if splits[0].classes != splits[1].classes:
        raise DataError(
            f"{root}: train and val have different class folders ({len(splits[0].classes)} vs {len(splits[1].classes)}); they must match"
        )
    workers = min(os.cpu_count() or 1, 8) if workers is None else workers
    dev = torch.device(device)
    train, test = (FolderImages(ds, tuple(ds.classes), size, tuple(mean), tuple(std), workers, dev) for ds in splits)
    return train, test
