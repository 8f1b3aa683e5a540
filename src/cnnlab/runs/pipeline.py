"""A model's input pipeline: what an image must become before the model sees it.

Recorded in every run folder at training time (``config.json``'s ``"pipeline"``), so eval,
viz, serve and size feed a run exactly what it was trained on, ``--resize`` included.

>>> p = Pipeline("mnist", (1, 32, 32), (0.1307,), (0.3081,), tuple("0123456789"), resize=32)
>>> p.preprocess(torch.zeros(2, 28, 28, dtype=torch.uint8)).shape
torch.Size([2, 1, 32, 32])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from cnnlab.data.memory import normalize_uint8, resize_batch
from cnnlab.data.stats import IMAGENET_MEAN, IMAGENET_STD, stats
from cnnlab.errors import CnnlabError

CENTER_CROP_RATIO = (
    0.875  # image folders: resize the short side to size / 0.875, centre-crop size (torchvision's references)
)


@dataclass(frozen=True)
class Pipeline:
    dataset: str | None  # what the model was trained on (None: a model loaded by name)
    input_shape: tuple[int, int, int]  # (C, H, W) the model receives, after resize / gray-to-RGB
    mean: tuple[float, ...]  # per input channel, [0, 1] pixel units
    std: tuple[float, ...]
    classes: tuple[str, ...] | None  # class names by label (None: unknown)
    resize: int = 0  # --resize: images resized to resize×resize (0: as the dataset stores them)
    crop: str = "none"  # "center": resize the short side to H / 0.875 and centre-crop (image folders)

    def __post_init__(self) -> None:
        assert len(self.input_shape) == 3 and len(self.mean) == len(self.std) == self.input_shape[0], self

    def preprocess(self, images: Tensor) -> Tensor:
        """uint8 images (0-255) or float ones (0-1), (N, C, H, W) or gray (N, H, W), of any size
        -> the float32 batch (N, *input_shape) the model was trained on.

        The order is the training pipeline's: normalize, resize, repeat gray to RGB (image
        folders: resize and crop, then normalize; an image already at the model's H×W is taken
        as cropped, which is what the run's own evaluation transform gives)."""
        x = images[:, None] if images.ndim == 3 else images  # (N, C0, H0, W0)
        if x.ndim != 4:
            raise CnnlabError(f"images must be (N, C, H, W) or (N, H, W), got shape {tuple(images.shape)}")
        c, h, w = self.input_shape
        c0 = x.shape[1]
        if c0 not in (1, c):
            raise CnnlabError(f"the model takes {c}-channel images, got {c0} channels; give gray or {c}-channel images")
        mean, std = self.mean[:c0], self.std[:c0]  # gray repeated to RGB: one channel's statistics
        if self.crop == "center":
            if tuple(x.shape[-2:]) != (h, w):
                x = _center_crop(x, h, w)  # uint8 stays uint8, rounded after resizing as the eval transform does
            x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
            x = _normalize_float(x, mean, std)
        else:
            x = normalize_uint8(x, mean, std) if x.dtype == torch.uint8 else _normalize_float(x.float(), mean, std)
            if tuple(x.shape[-2:]) != (h, w):
                x = resize_batch(x, (h, w))
        if c0 != c:
            x = x.expand(-1, c, -1, -1)
        return x.contiguous()  # (N, C, H, W)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Pipeline:
        try:
            return cls(
                dataset=d["dataset"],
                input_shape=_shape(d["input_shape"]),
                mean=tuple(float(v) for v in d["mean"]),
                std=tuple(float(v) for v in d["std"]),
                classes=tuple(str(v) for v in d["classes"]) if d.get("classes") is not None else None,
                resize=int(d.get("resize", 0)),
                crop=str(d.get("crop", "none")),
            )
        except (KeyError, TypeError, ValueError, AssertionError) as e:
            raise CnnlabError(f"the stored input pipeline is damaged ({type(e).__name__}: {e})") from None

    @classmethod
    def for_dataset(
        cls,
        dataset: str,
        input_shape: tuple[int, int, int],
        resize: int = 0,
        classes: tuple[str, ...] | None = None,
        mean: tuple[float, ...] | None = None,
        std: tuple[float, ...] | None = None,
    ) -> Pipeline:
        """The pipeline of a model trained on ``dataset`` (statistics from the dataset table
        unless given; one-channel statistics repeat when gray was fed to an RGB model)."""
        known = stats(dataset)
        c = input_shape[0]
        mean, std = mean or known.mean, std or known.std
        if len(mean) != c:
            mean, std = (mean[0],) * c, (std[0],) * c
        return cls(
            dataset,
            input_shape,
            tuple(mean),
            tuple(std),
            classes if classes is not None else known.classes,
            resize,
            "center" if dataset == "imagefolder" else "none",
        )

    @classmethod
    def for_model(cls, input_shape: tuple[int, int, int]) -> Pipeline:
        """A model loaded by name: ImageNet statistics for colour, MNIST's for gray."""
        c = input_shape[0]
        if c == 3:
            return cls(None, input_shape, IMAGENET_MEAN, IMAGENET_STD, None)
        mnist = stats("mnist")
        return cls(None, input_shape, mnist.mean * c, mnist.std * c, None)


def _shape(values: Any) -> tuple[int, int, int]:
    c, h, w = (int(v) for v in values)  # not three numbers: a ValueError, "damaged"
    return c, h, w


def _normalize_float(x: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    m = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s


def _center_crop(x: Tensor, h: int, w: int) -> Tensor:
    from torchvision.transforms.v2 import functional as TF

    x = TF.resize(x, [int(round(h / CENTER_CROP_RATIO))], antialias=True)
    return TF.center_crop(x, [h, w])
