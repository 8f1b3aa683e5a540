"""The project's exceptions.

A :class:`CnnlabError` is a mistake the *user* can fix: a bad flag, a missing or corrupt
file, an unknown model name. Its message is one line that says what is wrong and how to
fix it; the CLI prints it as ``cnnlab: error: <message>`` and exits non-zero, with no
traceback. Anything else reaching the CLI is a bug in cnnlab and is reported as one.

``CnnlabError`` subclasses ``ValueError`` so library users can catch either.
"""

from __future__ import annotations

from typing import Any


class CnnlabError(ValueError):
    """A user-fixable error; its message says what is wrong and how to fix it."""

    exit_code = 2
    summary: dict[str, Any] | None = None  # a training run that stopped: its summary.json ("status": ...)


class DataError(CnnlabError):
    """A dataset is missing, corrupt, or does not match its checksum."""


class DivergedError(CnnlabError):
    """Training produced a non-finite loss."""

    exit_code = 3


class CheckpointError(CnnlabError):
    """A checkpoint or run folder is missing, truncated or unreadable."""


class ResourceError(CnnlabError):
    """A request would need more memory (or pixels) than cnnlab's documented limit allows."""


class OutputError(CnnlabError):
    """An output path cannot be written without losing something (a folder, a device, a
    link, a file not given to replace) or cannot be written at all (read-only, no folder)."""
