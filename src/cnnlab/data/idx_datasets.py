"""MNIST and Fashion-MNIST: where their IDX files are, their checksums, their statistics.

Where a dataset is looked for, in order (the first folder holding all four files wins):

1. the data root: ``--data-dir`` if given, else ``$CNNLAB_DATA`` if set, else the cache
   folder (:func:`cnnlab.paths.cache_dir`: ``$XDG_CACHE_HOME/cnnlab``, ``~/.cache/cnnlab``); in the root itself and in
   ``ROOT/<dataset>/``;
2. read-only copies cnnlab knows of: MNIST ships inside cnnlab; Fashion-MNIST is in
   ``/usr/share/datasets/fashion-mnist`` when Debian's ``dataset-fashion-mnist`` is installed;
3. a download from the dataset's public mirrors into ``ROOT/<dataset>/``, each file checked
   against its published md5 (skipped with ``CNNLAB_OFFLINE=1``).

Every file's *uncompressed* contents are checked against a known md5 on load.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cnnlab.data.download import download
from cnnlab.data.idx import read_idx
from cnnlab.errors import DataError
from cnnlab.paths import cache_dir

BUNDLED = Path(__file__).parent / "bundled"


@dataclass(frozen=True)
class IdxFile:
    name: str  # file name as published, e.g. "train-images-idx3-ubyte.gz"
    gz_md5: str  # md5 of the published .gz (checked after a download)
    raw_md5: str  # md5 of the uncompressed IDX contents (checked on every load)


@dataclass(frozen=True)
class IdxDataset:
    name: str  # registry name, e.g. "mnist"
    title: str  # human name
    train_images: IdxFile
    train_labels: IdxFile
    test_images: IdxFile
    test_labels: IdxFile
    mirrors: tuple[str, ...]  # base URLs, tried in order
    classes: tuple[str, ...]
    mean: float  # mean of the training pixels, in [0, 1] units (measured: see tests)
    std: float  # their standard deviation
    known_dirs: tuple[Path, ...]  # read-only copies looked in after the data root
    install_hint: str  # how a user gets the files when nothing is found

    @property
    def files(self) -> tuple[IdxFile, ...]:
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)


MNIST = IdxDataset(
    name="mnist",
    title="MNIST",
    train_images=IdxFile(
        "train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", "6bbc9ace898e44ae57da46a324031adb"
    ),
    train_labels=IdxFile(
        "train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", "a25bea736e30d166cdddb491f175f624"
    ),
    test_images=IdxFile(
        "t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", "2646ac647ad5339dbf082846283269ea"
    ),
    test_labels=IdxFile(
        "t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", "27ae3e4e09519cfbb04c329615203637"
    ),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    classes=tuple(str(d) for d in range(10)),
    mean=0.1307,
    std=0.3081,
    known_dirs=(BUNDLED / "mnist",),
    install_hint="cnnlab ships MNIST in cnnlab/data/bundled/mnist; reinstall cnnlab if it is gone",
)

FASHION_MNIST = IdxDataset(
    name="fashion-mnist",
    title="Fashion-MNIST",
    train_images=IdxFile(
        "train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "f4a8712d7a061bf5bd6d2ca38dc4d50a"
    ),
    train_labels=IdxFile(
        "train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe", "9018921c3c673c538a1fc5bad174d6f9"
    ),
    test_images=IdxFile(
        "t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79", "8181f5470baa50b63fa0f6fddb340f0a"
    ),
    test_labels=IdxFile(
        "t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310", "15d484375f8d13e6eb1aabb0c3f46965"
    ),
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    mean=0.2860,
    std=0.3530,
    known_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
    install_hint="on Debian/Ubuntu run `apt-get install dataset-fashion-mnist`",
)

IDX_DATASETS = {d.name: d for d in (MNIST, FASHION_MNIST)}


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """``--data-dir``, else ``$CNNLAB_DATA``, else the user cache folder."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get("CNNLAB_DATA"):
        return Path(os.environ["CNNLAB_DATA"]).expanduser()
    return cache_dir()


def offline() -> bool:
    return os.environ.get("CNNLAB_OFFLINE", "").lower() not in ("", "0", "false", "no")


def _find_file(folder: Path, f: IdxFile) -> Path | None:
    for name in (f.name, f.name.removesuffix(".gz")):
        if (folder / name).is_file():
            return folder / name
    return None


def candidate_dirs(spec: IdxDataset, data_dir: str | os.PathLike | None = None) -> list[Path]:
    root = data_root(data_dir)
    return [root / spec.name, root, *spec.known_dirs]


def locate(spec: IdxDataset, data_dir: str | os.PathLike | None = None, quiet: bool = False) -> dict[str, Path]:
    """Paths of the dataset's four files, downloading them if needed (see module doc)."""
    looked = candidate_dirs(spec, data_dir)
    for folder in looked:
        found = [_find_file(folder, f) for f in spec.files]
        if all(found):
            return {f.name: p for f, p in zip(spec.files, found) if p is not None}
    target = data_root(data_dir) / spec.name
    where = ", ".join(str(p) for p in looked)
    if offline():
        raise DataError(
            f"{spec.title} not found (looked in {where}) and CNNLAB_OFFLINE is set; "
            f"put the four IDX files in one of those folders or pass --data-dir DIR ({spec.install_hint})"
        )
    errors = []
    for f in spec.files:
        for base in spec.mirrors:
            try:
                download(base + f.name, target / f.name, f.gz_md5, quiet=quiet)
                break
            except OSError as e:
                errors.append(str(e))
        else:
            raise DataError(
                f"{spec.title} not found (looked in {where}) and the download failed "
                f"({'; '.join(errors[-len(spec.mirrors) :])}); put the four IDX files in one of "
                f"those folders or pass --data-dir DIR ({spec.install_hint})"
            )
    return {f.name: target / f.name for f in spec.files}


def load_idx_split(images_path: Path, labels_path: Path, images_md5: str | None = None, labels_md5: str | None = None):
    """(images (N, H, W) uint8, labels (N,) uint8) from one pair of IDX files, checked."""
    images = read_idx(images_path, images_md5)
    labels = read_idx(labels_path, labels_md5)
    if images.ndim != 3 or labels.ndim != 1:
        raise DataError(
            f"{images_path}: expected images of shape (N, H, W) and labels of shape (N,), "
            f"got {images.shape} and {labels.shape} ({labels_path})"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} "
            "labels; the two files must come from the same split"
        )
    return images, labels
