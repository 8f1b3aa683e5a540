"""The model registry: every model cnnlab can build, by name.

A :class:`ModelSpec` says how to build a model and what input it accepts; ``create`` builds
one and ``check_input`` turns a mismatch between model and data into one line that says
what to do instead.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from torch import nn

from cnnlab.errors import CnnlabError


@dataclass(frozen=True)
class ModelSpec:
    name: str  # registry name, e.g. "lenet5"
    build: Callable[..., nn.Module]  # build(num_classes=, in_channels=, input_size=, **kw)
    summary: str  # one line for `cnnlab models`
    input_shape: tuple[int, int, int] | None = None  # (C, H, W) it requires; None: adapts to the data
    min_size: int = 1  # smallest H and W it accepts when it adapts
    # input_shape is only the default (the ImageNet models: any channels, any H, W >= min_size)
    flexible: bool = False
    recipe: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # training defaults
    alternative: str = ""  # what to use instead when the input does not fit
    num_classes: int = 10  # default number of outputs (1000 for the ImageNet models)

    def check_input(
        self, in_channels: int, input_size: tuple[int, int], source: str = "the data", fix: str = "--resize {side}"
    ) -> None:
        """Raise a one-line :class:`CnnlabError` if this model cannot take such input; ``fix``
        is the flag that changes the size (``{side}``: the side it needs)."""
        c, (h, w) = in_channels, input_size
        if self.input_shape is not None and not self.flexible and (c, h, w) != self.input_shape:
            ec, eh, ew = self.input_shape
            fix_text = fix.format(side=eh, c=ec)
            hint = f"use {self.alternative} or {fix_text}" if self.alternative else f"use {fix_text}"
            raise CnnlabError(f"{self.name} expects {ec}×{eh}×{ew} input and {source} gives {c}×{h}×{w}; {hint}")
        if min(h, w) < self.min_size:
            instead = f"{self.alternative} or" if self.alternative else "a model for small inputs (cnnlab models) or"
            raise CnnlabError(
                f"{self.name} needs inputs of at least {self.min_size}×{self.min_size} and {source} gives {h}×{w}; "
                f"use {instead} {fix.format(side=self.min_size, c=c)}"
            )


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model to the registry, so ``create``, ``cnnlab train --model`` and every other
    command know it by name.

    >>> import torch
    >>> from torch import nn
    >>> def linear(num_classes, in_channels, input_size):
    ...     return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * input_size[0] * input_size[1], num_classes))
    >>> register(ModelSpec("linear-example", linear, "a linear classifier")).name in list_models()
    True
    >>> create("linear-example")(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    >>> del _REGISTRY["linear-example"]   # (this example leaves the registry as it found it)
    """
    assert spec.name not in _REGISTRY, f"model {spec.name!r} registered twice"
    _REGISTRY[spec.name] = spec
    return spec


def list_models() -> list[str]:
    """Names of every registered model, in registration order.

    >>> list_models()[:2]
    ['lenet5', 'lenet5-1998']
    """
    return list(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The registered :class:`ModelSpec` called ``name``; a near miss is one line that
    suggests the name meant.

    >>> get_spec("alexnet").input_shape
    (3, 224, 224)
    >>> get_spec("lenet6")                                   # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cnnlab.errors.CnnlabError: unknown model 'lenet6'; did you mean lenet5, ...
    """
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise CnnlabError(f"unknown model {name!r}; {hint}run `cnnlab models` to list them ({', '.join(_REGISTRY)})")
    return _REGISTRY[name]


def create(
    name: str,
    num_classes: int | None = None,
    in_channels: int | None = None,
    input_size: tuple[int, int] | int | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model for inputs of ``in_channels``×``input_size`` and ``num_classes`` outputs.

    Defaults to the model's own input shape (or 1×28×28 for models that adapt) and class
    count (10, or 1000 for the ImageNet models).

    >>> model = create("lenet5")
    >>> sum(p.numel() for p in model.parameters())
    61706
    """
    spec = get_spec(name)
    default = spec.input_shape or (1, 28, 28)
    in_channels = default[0] if in_channels is None else in_channels
    num_classes = spec.num_classes if num_classes is None else num_classes
    for arg, value in (("num_classes", num_classes), ("in_channels", in_channels)):
        if not _is_count(value) or value < 1:
            raise CnnlabError(f"{arg} must be an integer of at least 1, got {value!r}")
    if input_size is None:
        given: Sequence[Any] = default[1:]
    elif isinstance(input_size, int):
        given = (input_size, input_size)  # a bool is refused below
    else:
        given = input_size
    if not isinstance(given, (tuple, list)) or len(given) != 2 or not all(_is_count(v) and v >= 1 for v in given):
        raise CnnlabError(f"input_size must be a positive int or (H, W) of positive ints, got {input_size!r}")
    size = (int(given[0]), int(given[1]))
    spec.check_input(in_channels, size)
    return spec.build(num_classes=num_classes, in_channels=in_channels, input_size=size, **kwargs)
