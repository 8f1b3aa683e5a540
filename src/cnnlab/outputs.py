"""Where cnnlab may write: the output policy of every ``-o``/``--out``/``--plot``/``--confusion``.

Nothing a user made is lost (issue 14):

* ``-o FILE`` creates FILE or replaces a *regular* file. A folder, a device (``/dev/full``),
  a FIFO or a socket is refused: ``os.replace`` would put a PNG where the device node was.
* A symbolic link is written *through*: the file it points to is replaced and the link
  stays a link (a dangling link creates its target).
* The folder FILE goes in must exist (a mistyped folder is not created silently); a
  read-only file or folder (no write permission bit, or a read-only filesystem) is refused,
  even for root, since someone made it read-only on purpose.
* An output *folder* (``experiment invariance --out``, ``viz report -o``) may be new (it is
  created, with its parents) or an existing folder; files a command would replace there
  are listed by the command, which asks for ``--force`` where the issue says so.

Every refusal is one :class:`~cnnlab.errors.OutputError` line that names the flag. The
commands check their outputs *before* any work (an experiment must not train six models
and then find it cannot write), and :mod:`cnnlab.atomic` checks again when it writes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cnnlab.errors import OutputError


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _read_only(path: Path, st: os.stat_result) -> bool:
    return st.st_mode & 0o222 == 0 or not os.access(path, os.W_OK)


def target_of(path: str | os.PathLike) -> Path:
    """The file a write to ``path`` lands in: ``path`` itself, or where its symlinks lead."""
    p = Path(path)
    return Path(os.path.realpath(p)) if p.is_symlink() else p


def output_file(path: str | os.PathLike, flag: str = "-o") -> Path:
    """Check that a file can be written at ``path`` without losing anything; return the path
    to write (a symlink's target). Raises a one-line :class:`OutputError` otherwise.

    >>> output_file("/dev/null")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    cnnlab.errors.OutputError: -o /dev/null is a device, not a regular file; ...
    """
    shown = f"{flag} {path}"
    target = target_of(path)
    via = f" (a link to {target})" if target != Path(path) else ""
    try:
        st = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        st = None  # a missing file, or a "folder" that is a file: the folder check says which
    except OSError as e:
        raise OutputError(f"{shown}{via} cannot be written ({e.strerror}); give another path") from None
    if st is not None:
        kind = _kind(st.st_mode)
        if kind == "a folder":
            raise OutputError(f"{shown}{via} is a folder; give a file name inside it, e.g. {Path(path) / 'NAME'}")
        if kind is not None:
            raise OutputError(
                f"{shown}{via} is {kind}, not a regular file; cnnlab writes only regular files, give a file path"
            )
        if _read_only(target, st):
            raise OutputError(f"{shown}{via} is read-only; make it writable (chmod u+w) or give another path")
    parent = target.parent
    _check_folder(parent, f"{shown}{via}")
    return target


def output_dir(path: str | os.PathLike, flag: str = "--out", create: bool = True) -> Path:
    """Check (and, with ``create``, make, with its parents) a folder for a command's outputs."""
    p = Path(path)
    shown = f"{flag} {path}"
    if p.exists() and not p.is_dir():
        raise OutputError(f"{shown} is a file, not a folder; give a folder path (it is created if missing)")
    probe = p
    while not probe.exists():  # the nearest existing ancestor must be a writable folder
        probe = probe.parent
    _check_folder(probe, shown)
    if not create:
        return p
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{shown}: cannot create the folder ({e.strerror}); give another path") from None
    return p


def _check_folder(folder: Path, shown: str) -> None:
    folder = folder if str(folder) else Path(".")
    if not folder.exists():
        # an ancestor that is a file makes the folder impossible, not just missing
        probe = folder
        while not probe.exists():
            probe = probe.parent
        if not probe.is_dir():
            raise OutputError(f"{shown}: {probe} is a file, not a folder; give a path in a folder")
        raise OutputError(
            f"{shown}: folder {folder} does not exist; create it (mkdir -p {folder}) or give another path"
        )
    if not folder.is_dir():
        raise OutputError(f"{shown}: {folder} is a file, not a folder; give a path in a folder")
    if _read_only(folder, os.stat(folder)):
        raise OutputError(f"{shown}: folder {folder} is read-only; make it writable (chmod u+w) or give another path")


def existing_outputs(folder: str | os.PathLike, names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` already exist in ``folder`` (for a command's --force check)."""
    return [n for n in names if os.path.lexists(Path(folder) / n)]
