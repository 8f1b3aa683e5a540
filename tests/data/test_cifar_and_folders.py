"""CIFAR archives and image trees, generated on disk, loaded and trained on."""

from __future__ import annotations

import dataclasses
import hashlib
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.data import cifar, load_dataset
from cnnlab.errors import DataError
from cnnlab.train.run import config_for, run_training

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture
def cifar_dir(tmp_path, monkeypatch):
    """A small archive in CIFAR-10's python format, registered with its own md5."""
    rng = np.random.default_rng(0)
    train = (rng.integers(0, 256, (50, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, 50))
    test = (rng.integers(0, 256, (20, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, 20))
    folder = tmp_path / "cifar10"
    folder.mkdir()
    path = folder / cifar.CIFAR10.archive
    cifar.write_cifar_archive(path, cifar.CIFAR10, train, test, CLASSES)
    monkeypatch.setitem(
        cifar.CIFAR, "cifar10", dataclasses.replace(cifar.CIFAR10, md5=hashlib.md5(path.read_bytes()).hexdigest())
    )
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")
    return tmp_path, train, test


def test_cifar_archive_loads_exactly(cifar_dir):
    root, train, test = cifar_dir
    tr, te = load_dataset("cifar10", root)
    assert tr.images.shape == (50, 3, 32, 32) and te.images.shape == (20, 3, 32, 32)
    assert torch.equal(tr.images, torch.from_numpy(train[0])) and tr.labels.tolist() == train[1].tolist()
    assert tr.classes == tuple(CLASSES) and len(tr.mean) == 3


def test_cifar_checksum_and_corruption(cifar_dir):
    root, _, _ = cifar_dir
    path = root / "cifar10" / cifar.CIFAR10.archive
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="checksum mismatch"):
        load_dataset("cifar10", root)


def test_a_malicious_pickle_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    with pytest.raises(DataError, match="refusing to load (posix|os).system"):
        cifar.safe_unpickle(pickle.dumps({b"data": Evil()}), "evil")


def test_missing_cifar_offline_says_where(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")
    with pytest.raises(
        DataError,
        match=r"cifar100 not found \(looked for cifar-100-python.tar.gz in .*\).*download https://www.cs.toronto.edu",
    ):
        load_dataset("cifar100", tmp_path)


def test_training_on_generated_cifar(cifar_dir, tmp_path):
    root, _, _ = cifar_dir
    cfg = config_for("lenet5", dataset="cifar10", data_dir=str(root), epochs=1, batch_size=16, device="cpu")
    summary = run_training(cfg, out=tmp_path / "run", quiet=True, echo=lambda s: None)
    assert summary["status"] == "finished" and summary["params"] > 61706  # 3 input channels, 32×32


@pytest.fixture
def image_tree(tmp_path):
    """ROOT/train/<class>/*.png and ROOT/val/<class>/*.png: 3 classes of coloured squares."""
    rng = np.random.default_rng(1)
    colours = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}
    for split, n in (("train", 12), ("val", 4)):
        for name, colour in colours.items():
            folder = tmp_path / "tree" / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                img = np.full((40, 48, 3), 255, np.uint8)
                y, x = rng.integers(0, 20, 2)
                img[y : y + 20, x : x + 24] = colour
                Image.fromarray(img).save(folder / f"{i}.png")
    return tmp_path / "tree"


def test_image_tree_decodes_in_workers_and_trains(image_tree, tmp_path):
    train, val = load_dataset("imagefolder", image_tree, resize=32, workers=2)
    assert train.classes == ("blue", "green", "red") and len(train) == 36 and len(val) == 12
    x, y = next(train.batches(8, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert x.shape == (8, 3, 32, 32) and x.dtype == torch.float32 and y.shape == (8,)
    cfg = config_for(
        "lenet5",
        dataset="imagefolder",
        data_dir=str(image_tree),
        resize=32,
        epochs=2,
        batch_size=12,
        workers=1,
        device="cpu",
    )
    summary = run_training(cfg, out=tmp_path / "run", quiet=True, echo=lambda s: None)
    assert summary["status"] == "finished" and summary["epochs"] == 2


def test_image_tree_errors(tmp_path):
    with pytest.raises(DataError, match="imagefolder needs --data-dir ROOT"):
        load_dataset("imagefolder", None)
    (tmp_path / "t" / "train" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="val not found"):
        load_dataset("imagefolder", tmp_path / "t")


def test_resize_turns_gray_digits_into_rgb_for_imagenet_models(tmp_path):
    cfg = config_for(
        "resnet18",
        epochs=1,
        resize=64,
        train_subset=32,
        test_subset=16,
        batch_size=16,
        device="cpu",
        eval_batch_size=16,
    )
    from cnnlab.train.run import load_data

    train, _ = load_data(cfg, torch.device("cpu"), quiet=True)
    x, _ = next(train.batches(4))
    assert x.shape == (4, 3, 64, 64) and torch.equal(x[:, 0], x[:, 2])


def test_validation_is_refused_for_an_image_folder(image_tree):
    """Its training images come through random crops and flips, so they cannot stand in for a
    test set: one clear line that says what to do instead."""
    from cnnlab.errors import CnnlabError
    from cnnlab.runs.run import validation_split

    train, _ = load_dataset("imagefolder", image_tree, resize=32, workers=0)
    with pytest.raises(CnnlabError, match="--validation holds out images of an in-memory dataset.*val/"):
        validation_split(train, 6)
