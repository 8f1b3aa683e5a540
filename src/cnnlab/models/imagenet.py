"""The lecture's ImageNet architectures, through torchvision, at ImageNet shapes (3×224×224).

    alexnet     Krizhevsky et al. 2012     8 weight layers, 61.1 M params
    googlenet   Szegedy et al. 2014        22 weight layers, Inception modules (no aux heads)
    resnet18 … resnet152   He et al. 2015  residual blocks; ResNet-152 is the lecture's "150 layers"

``weights="DEFAULT"`` (or a torchvision weights name) loads the pretrained ImageNet weights,
downloaded by torchvision on first use; ``weights=None`` (the default) builds fresh ones.
"""

from __future__ import annotations

from typing import Any

import torchvision
from torch import nn

from cnnlab.errors import CnnlabError

TORCHVISION_NAMES = ("alexnet", "googlenet", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152")


def torchvision_model(name: str):
    def build(
        num_classes: int = 1000, in_channels: int = 3, input_size=(224, 224), weights: str | None = None, **kwargs: Any
    ) -> nn.Module:
        if weights is not None and num_classes != 1000:
            raise CnnlabError(
                f"pretrained {name} weights have 1000 ImageNet classes, not {num_classes}; drop --weights or use 1000 classes"
            )
        if name == "googlenet":
            kwargs.setdefault("aux_logits", False)  # the lecture's Inception count has no auxiliary heads
            if weights is None:
                kwargs.setdefault("init_weights", True)
        try:
            return torchvision.models.get_model(name, weights=weights, num_classes=num_classes, **kwargs)
        except (ValueError, KeyError) as e:
            raise CnnlabError(f"cannot build {name} with weights={weights!r}: {e}") from None

    build.__name__ = f"build_{name}"
    return build
