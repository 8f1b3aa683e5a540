"""The training configuration (kept in :mod:`cnnlab.runs.config`, which every run folder stores)."""

from cnnlab.runs.config import TrainConfig

__all__ = ["TrainConfig"]
