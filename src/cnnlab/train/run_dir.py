"""A run folder's files (kept in :mod:`cnnlab.runs.folder`)."""

from cnnlab.runs.folder import RunDir

__all__ = ["RunDir"]
