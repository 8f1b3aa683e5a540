"""The run's test images, for the page's "test image" button and its browser of mistakes.

Loaded on first use (MNIST takes a second or two); an image tree's test split is read from
its files. Images are kept as the dataset stores them (uint8, native size) and go through
the run's own input pipeline before the model sees them.
"""

from __future__ import annotations

import base64
import threading
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from cnnlab.data.imagefolder import FolderImages, build_transform
from cnnlab.data.memory import ImageTensors
from cnnlab.errors import CnnlabError
from cnnlab.runs import Pipeline, Run

BATCH = 500  # test images per forward pass when looking for mistakes


class TestImages:
    def __init__(self, run: Run) -> None:
        self.run = run
        self._split: ImageTensors | FolderImages | None = None
        self._error: str | None = None
        self._lock = threading.Lock()

    def _load(self) -> ImageTensors | FolderImages | None:
        with self._lock:
            if self._split is None and self._error is None:
                # the run's test split as it was fed: in memory the images stay as stored (uint8,
                # native size; --resize happens per batch), an image tree's are cropped to its size
                try:
                    self._split = self.run.test_data
                except (CnnlabError, OSError) as e:
                    self._error = f"the test set of {self.run.config.dataset} cannot be loaded: {e}"
        return self._split

    def _loaded(self) -> ImageTensors | FolderImages:
        split = self._load()
        if split is None:
            raise CnnlabError(self._error or "no test set")
        return split

    def available(self) -> bool:
        return self._load() is not None

    def classes(self) -> tuple[str, ...] | None:
        split = self._load()
        return tuple(split.classes) if split is not None else None

    def count(self) -> int:
        split = self._load()
        return len(split) if split is not None else 0

    def check(self, index: int) -> None:
        n = len(self._loaded())
        if not 0 <= index < n:
            raise CnnlabError(f"index {index} is out of range; the test set has {n} images (0-{n - 1})")

    def native(self, index: int) -> tuple[np.ndarray, int]:
        """Test image ``index`` as (H, W) or (C, H, W) in [0, 1], and its label."""
        self.check(index)
        split = self._loaded()
        if isinstance(split, ImageTensors):  # in memory (MNIST, Fashion-MNIST, CIFAR)
            img = split.images[index].float().numpy() / 255.0  # (C, H, W)
            return (img[0] if img.shape[0] == 1 else img), int(split.labels[index])
        path, label = _folder_sample(split, index)
        from PIL import Image

        # the run's own evaluation transform (resize, centre crop), without its normalization
        crop = build_transform(False, split.size, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
        with Image.open(path) as im:
            return crop(im.convert("RGB")).numpy(), label

    def _native_batches(self):
        """(uint8 (B, Cn, Hn, Wn), labels (B,), first index) over the whole test split."""
        split = self._loaded()
        if isinstance(split, ImageTensors):
            for i in range(0, len(split), BATCH):
                yield split.images[i : i + BATCH].cpu(), split.labels[i : i + BATCH].cpu(), i
            return
        for i in range(0, len(split), BATCH):
            imgs, labels = zip(*(self.native(k) for k in range(i, min(i + BATCH, len(split)))))
            x = torch.from_numpy(np.round(np.stack(imgs) * 255).astype(np.uint8))
            yield x, torch.tensor(labels), i

    @torch.inference_mode()
    def mistakes(self, model: nn.Module, pipeline: Pipeline) -> list[dict[str, Any]]:
        """Every test image ``model`` gets wrong, most confident mistakes first, with its pixels."""
        if self._load() is None:
            return []
        found = []
        for x, labels, first in self._native_batches():
            probs = torch.softmax(model(pipeline.preprocess(x)).float(), 1)  # uint8 (B, Cn, Hn, Wn) in; (B, K)
            conf, pred = probs.max(1)
            for k in torch.nonzero(pred != labels).flatten().tolist():
                found.append(
                    {
                        "index": first + k,
                        "label": int(labels[k]),
                        "prediction": int(pred[k]),
                        "confidence": round(float(conf[k]), 4),
                        "pixels": _pixels(x[k]),
                    }
                )
        found.sort(key=lambda m: -m["confidence"])
        return found


def _pixels(img: Tensor) -> str:
    """uint8 (C, H, W) -> base64, for the page's thumbnails."""
    return base64.b64encode(img.contiguous().numpy().tobytes()).decode()


def _folder_sample(split: FolderImages, index: int) -> tuple[str, int]:
    from torchvision.datasets import DatasetFolder

    ds = split.dataset  # an ImageFolder, or a Subset of one
    if isinstance(ds, torch.utils.data.Subset):
        ds, index = ds.dataset, ds.indices[index]
    assert isinstance(ds, DatasetFolder), type(ds)
    return ds.samples[index]
