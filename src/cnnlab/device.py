"""Choosing the device a run uses."""

from __future__ import annotations

import torch

from cnnlab.errors import CnnlabError


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple's MPS, then the CPU; other names are checked.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise CnnlabError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CnnlabError(f"--device {name} asked for CUDA but torch sees no GPU here; use --device cpu (or auto)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise CnnlabError(
            f"--device {name}: only {torch.cuda.device_count()} GPU(s) visible; use cuda:0..cuda:{torch.cuda.device_count() - 1}"
        )
    if device.type == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise CnnlabError(f"--device {name}: MPS is not available here; use --device cpu (or auto)")
    return device
