"""CIFAR-10 and CIFAR-100 from the standard python archives (Krizhevsky 2009), in memory.

The archives hold Python pickles. Unpickling runs code chosen by the file, so cnnlab never
uses plain ``pickle.load`` on them: a restricted unpickler rebuilds only numpy arrays and
plain containers, and a downloaded archive must also match its published md5 first.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cnnlab.data.download import download
from cnnlab.data.idx import md5_hex
from cnnlab.data.idx_datasets import data_root, offline
from cnnlab.data.memory import ImageTensors
from cnnlab.errors import DataError


@dataclass(frozen=True)
class CifarSpec:
    name: str
    archive: str  # file name of the python archive
    md5: str  # published md5 of the archive
    folder: str  # top folder inside the archive
    train_members: tuple[str, ...]
    test_member: str
    label_key: bytes
    meta_member: str
    names_key: bytes
    mean: tuple[float, float, float]  # measured on the training images, [0, 1] units
    std: tuple[float, float, float]


CIFAR10 = CifarSpec(
    "cifar10",
    "cifar-10-python.tar.gz",
    "c58f30108f718f92721af3b95e74349a",
    "cifar-10-batches-py",
    tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test_batch",
    b"labels",
    "batches.meta",
    b"label_names",
    (0.4914, 0.4822, 0.4465),
    (0.2470, 0.2435, 0.2616),
)
CIFAR100 = CifarSpec(
    "cifar100",
    "cifar-100-python.tar.gz",
    "eb9058c3a382ffc7106e4002c42a8d85",
    "cifar-100-python",
    ("train",),
    "test",
    b"fine_labels",
    "meta",
    b"fine_label_names",
    (0.5071, 0.4865, 0.4409),
    (0.2673, 0.2564, 0.2762),
)
CIFAR = {s.name: s for s in (CIFAR10, CIFAR100)}
MIRROR = "https://www.cs.toronto.edu/~kriz/"


class _SafeUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays and plain containers; refuses every other global."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("builtins", "list"),
        ("builtins", "dict"),
        ("builtins", "bytes"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def safe_unpickle(data: bytes, source: str) -> dict:
    try:
        obj = _SafeUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise DataError(
            f"{source}: not a CIFAR batch ({e}); the archive is corrupt or not CIFAR's python version"
        ) from None
    if not isinstance(obj, dict):
        raise DataError(f"{source}: not a CIFAR batch (a {type(obj).__name__}, expected a dict)")
    return obj


def _locate(spec: CifarSpec, data_dir: str | os.PathLike | None, quiet: bool) -> Path:
    root = data_root(data_dir)
    for folder in (root / spec.name, root):
        if (folder / spec.archive).is_file():
            return folder / spec.archive
    target = root / spec.name / spec.archive
    where = f"{root / spec.name}, {root}"
    if offline():
        raise DataError(
            f"{spec.name} not found (looked for {spec.archive} in {where}) and CNNLAB_OFFLINE is set; "
            f"download {MIRROR}{spec.archive} into one of those folders or pass --data-dir DIR"
        )
    try:
        download(MIRROR + spec.archive, target, spec.md5, timeout=60, quiet=quiet)
    except OSError as e:
        raise DataError(
            f"{spec.name} not found (looked in {where}) and the download failed ({e}); "
            f"download {MIRROR}{spec.archive} by hand into {root / spec.name} or pass --data-dir DIR"
        ) from None
    return target


def load_cifar(
    name: str, data_dir: str | os.PathLike | None = None, quiet: bool = False, verify: bool = True
) -> tuple[ImageTensors, ImageTensors]:
    """(train, test) as uint8 (N, 3, 32, 32) tensors. ``verify``: check the archive's published md5."""
    spec = CIFAR[name]
    path = _locate(spec, data_dir, quiet)
    raw = path.read_bytes()
    if verify and md5_hex(raw) != spec.md5:
        raise DataError(
            f"{path}: checksum mismatch (md5 {md5_hex(raw)}, expected {spec.md5}); delete it and download it again"
        )
    try:
        archive = tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz")  # noqa: SIM115 (closed by the with below)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DataError(f"{path}: not a readable .tar.gz ({e}); delete it and download it again") from None
    with archive:

        def member(m: str) -> dict:
            try:
                f = archive.extractfile(f"{spec.folder}/{m}")
            except KeyError:
                f = None
            if f is None:
                raise DataError(
                    f"{path}: {spec.folder}/{m} is missing from the archive; it is not {spec.name}'s python version"
                )
            return safe_unpickle(f.read(), f"{path}:{m}")

        classes = tuple(n.decode() for n in member(spec.meta_member)[spec.names_key])

        def split(members) -> ImageTensors:
            batches = [member(m) for m in members]
            images = np.concatenate([np.asarray(b[b"data"], dtype=np.uint8) for b in batches]).reshape(-1, 3, 32, 32)
            labels = np.concatenate([np.asarray(b[spec.label_key], dtype=np.int64) for b in batches])
            if len(images) != len(labels):
                raise DataError(f"{path}: {len(images)} images but {len(labels)} labels")
            return ImageTensors(
                torch.from_numpy(images.copy()), torch.from_numpy(labels), spec.mean, spec.std, classes, spec.name
            )

        return split(spec.train_members), split((spec.test_member,))


def write_cifar_archive(
    path: Path,
    spec: CifarSpec,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    classes: list[str],
) -> None:
    """Write an archive in CIFAR's python format (used by the tests to make small datasets)."""

    def pickled(obj) -> bytes:
        return pickle.dumps(obj, protocol=2)

    images, labels = train
    parts = np.array_split(np.arange(len(labels)), len(spec.train_members))
    files = {
        m: {b"data": images[p].reshape(len(p), -1), spec.label_key: labels[p].tolist()}
        for m, p in zip(spec.train_members, parts)
    }
    files[spec.test_member] = {b"data": test[0].reshape(len(test[1]), -1), spec.label_key: test[1].tolist()}
    files[spec.meta_member] = {spec.names_key: [c.encode() for c in classes]}
    with tarfile.open(path, "w:gz") as tar:
        for m, obj in files.items():
            data = pickled(obj)
            info = tarfile.TarInfo(f"{spec.folder}/{m}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
