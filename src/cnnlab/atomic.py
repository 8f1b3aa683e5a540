"""Atomic file writes: write to a temporary file in the same folder, then rename.

A rename within one filesystem is atomic on POSIX, so a reader (or a crash) sees either the
old file or the new one, never half of either. Everything a user made (run configs,
metrics, weights, checkpoints, PNGs) is written through these helpers.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cnnlab.errors import OutputError
from cnnlab.outputs import output_file, target_of


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The output policy (``outputs.py``) holds here too: a symlink is written through (its
    target is replaced, the link stays), and a folder, device or FIFO at ``path`` is refused
    instead of being replaced by a regular file. A permission, read-only or full-disk
    failure is one :class:`~cnnlab.errors.OutputError` line.

    >>> with atomic_path("out.bin") as tmp:   # doctest: +SKIP
    ...     tmp.write_bytes(b"...")
    """
    path = target_of(path)
    if path.exists() and not path.is_file():
        output_file(path, "cannot write")  # raises: a folder, device, FIFO or socket
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _output_error(path, e) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        with open(tmp, "rb+") as f:  # flush to disk before the rename makes it visible
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if e.errno in _WRITE_ERRNOS:
            raise _output_error(path, e) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


_WRITE_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR, errno.EEXIST)


def _output_error(path: Path, e: OSError) -> OutputError:
    full = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is full"}
    why = full.get(e.errno or 0, e.strerror)  # errno None (an OSError made by hand): its message
    return OutputError(f"cannot write {path} ({why}); give another path")


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_with(path: str | os.PathLike, writer: Callable[[Path], Any]) -> None:
    """Call ``writer(tmp_path)`` (e.g. ``fig.savefig`` or ``safetensors.torch.save_file``)
    and move the result onto ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append one line to a log (JSONL), rewriting it atomically.

    The logs cnnlab appends to are small (one line per epoch), so rewriting keeps every
    earlier line safe if the process dies mid-write.
    """
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    write_text(path, old + line.rstrip("\n") + "\n")
