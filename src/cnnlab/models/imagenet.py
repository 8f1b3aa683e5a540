"""The lecture's ImageNet architectures, through torchvision, at ImageNet shapes (3×224×224)
by default; they take other sizes down to ``MIN_SIZE`` (their adaptive average pool) and
other channel counts (a fresh first conv for that many channels).

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
# smallest H and W each runs on (found by running them on meta tensors; tests/models check it)
MIN_SIZE = {"alexnet": 63, "googlenet": 15, **{n: 1 for n in TORCHVISION_NAMES if n.startswith("resnet")}}


def _stem(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    """(parent, attribute) of the first conv, the layer that fixes the channel count."""
    if name == "alexnet":
        return model.get_submodule("features"), "0"
    if name == "googlenet":
        return model.get_submodule("conv1"), "conv"
    return model, "conv1"


def _with_channels(model: nn.Module, name: str, in_channels: int) -> nn.Module:
    parent, attr = _stem(model, name)
    old: nn.Conv2d = getattr(parent, attr)
    (kh, kw), (sh, sw) = old.kernel_size, old.stride
    padding = old.padding if isinstance(old.padding, str) else (old.padding[0], old.padding[1])
    new = nn.Conv2d(in_channels, old.out_channels, (kh, kw), (sh, sw), padding, bias=old.bias is not None)
    setattr(parent, attr, new)
    return model


def torchvision_model(name: str):
    def build(
        num_classes: int = 1000, in_channels: int = 3, input_size=(224, 224), weights: str | None = None, **kwargs: Any
    ) -> nn.Module:
        if weights is not None and num_classes != 1000:
            raise CnnlabError(
                f"pretrained {name} weights have 1000 ImageNet classes, not {num_classes}; drop --weights or use 1000 classes"
            )
        if weights is not None and in_channels != 3:
            raise CnnlabError(
                f"pretrained {name} weights take 3-channel images, not {in_channels}; drop --weights or use RGB input"
            )
        if name == "googlenet":
            kwargs.setdefault("aux_logits", False)  # the lecture's Inception count has no auxiliary heads
            if weights is None:
                kwargs.setdefault("init_weights", True)
        try:
            model = torchvision.models.get_model(name, weights=weights, num_classes=num_classes, **kwargs)
        except (ValueError, KeyError) as e:
            raise CnnlabError(f"cannot build {name} with weights={weights!r}: {e}") from None
        return model if in_channels == 3 else _with_channels(model, name, in_channels)

    build.__name__ = f"build_{name}"
    return build
