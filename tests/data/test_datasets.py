"""MNIST and Fashion-MNIST: checksums, statistics, where they are looked for, downloading."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import threading
from dataclasses import replace

import numpy as np
import pytest
import torch

from cnnlab.data import idx_datasets, load_dataset
from cnnlab.data.download import download
from cnnlab.data.idx import encode_idx
from cnnlab.data.idx_datasets import FASHION_MNIST, MNIST, IdxDataset, IdxFile, data_root, locate
from cnnlab.errors import DataError


def test_bundled_mnist_is_the_original(mnist):
    train, test = mnist
    assert train.images.shape == (60000, 1, 28, 28) and train.images.dtype == torch.uint8
    assert test.images.shape == (10000, 1, 28, 28)
    assert torch.bincount(train.labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    # the .gz files are byte-identical to the published ones
    for f in MNIST.files:
        digest = hashlib.md5((idx_datasets.BUNDLED / "mnist" / f.name).read_bytes()).hexdigest()
        assert digest == f.gz_md5, f.name


def test_normalization_constants_are_measured(mnist):
    train, _ = mnist
    x = train.images.double() / 255
    assert abs(x.mean().item() - MNIST.mean) < 5e-5 and abs(x.std().item() - MNIST.std) < 5e-5
    z = train.normalize(train.images[:5000])
    assert z.dtype == torch.float32
    torch.testing.assert_close(z, ((train.images[:5000].float() / 255) - MNIST.mean) / MNIST.std)


def test_batches_cover_every_image_once(mnist):
    train, _ = mnist
    small = train.subset(slice(0, 1000))
    g = torch.Generator().manual_seed(0)
    seen = torch.cat([y for _, y in small.batches(128, shuffle=True, generator=g)])
    assert torch.equal(torch.sort(seen).values, torch.sort(small.labels).values)
    xs = [x for x, _ in small.batches(128)]
    assert [len(x) for x in xs] == [128] * 7 + [104]


def _fake_dataset(tmp_path, name="fake") -> tuple[IdxDataset, dict]:
    """A 4-file IDX dataset in a served folder, with correct md5s."""
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": (np.arange(20) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": (np.arange(10) % 10).astype(np.uint8),
    }
    served = tmp_path / "served"
    served.mkdir(exist_ok=True)
    files = []
    for fname, arr in arrays.items():
        raw = encode_idx(arr)
        gz = gzip.compress(raw, mtime=0)
        (served / fname).write_bytes(gz)
        files.append(IdxFile(fname, hashlib.md5(gz).hexdigest(), hashlib.md5(raw).hexdigest()))
    spec = replace(
        FASHION_MNIST,
        name=name,
        title="Fake",
        train_images=files[0],
        train_labels=files[1],
        test_images=files[2],
        test_labels=files[3],
        known_dirs=(),
        mirrors=(),
    )
    return spec, arrays


@pytest.fixture
def http_server(tmp_path):
    """A file server on 127.0.0.1 serving tmp_path/served; yields its base URL."""
    (tmp_path / "served").mkdir(exist_ok=True)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(tmp_path / "served"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_data_root_order(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("CNNLAB_DATA", raising=False)
    assert data_root() == tmp_path / "cache" / "cnnlab"
    monkeypatch.setenv("CNNLAB_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "flag") == tmp_path / "flag"


def test_locate_prefers_the_data_root_over_known_copies(monkeypatch, tmp_path):
    spec, _ = _fake_dataset(tmp_path)
    mine = tmp_path / "mine" / spec.name
    mine.mkdir(parents=True)
    for f in spec.files:
        (mine / f.name).write_bytes((tmp_path / "served" / f.name).read_bytes())
    spec = replace(spec, known_dirs=(tmp_path / "served",))
    assert set(locate(spec, tmp_path / "mine").values()) == {mine / f.name for f in spec.files}
    # with nothing in the root, the known copy is used
    assert set(locate(spec, tmp_path / "empty").values()) == {tmp_path / "served" / f.name for f in spec.files}


def test_missing_dataset_offline_says_where_it_looked(monkeypatch, tmp_path):
    spec, _ = _fake_dataset(tmp_path)
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")
    with pytest.raises(DataError, match=r"Fake not found \(looked in .*empty/fake, .*empty\).*--data-dir") as info:
        locate(spec, tmp_path / "empty")
    assert "\n" not in str(info.value)


def test_download_verifies_and_is_atomic(tmp_path, http_server):
    spec, arrays = _fake_dataset(tmp_path)
    f = spec.train_labels
    download(http_server + f.name, tmp_path / "dl" / f.name, f.gz_md5, quiet=True)
    assert (tmp_path / "dl" / f.name).read_bytes() == (tmp_path / "served" / f.name).read_bytes()
    with pytest.raises(OSError, match="checksum mismatch"):
        download(http_server + f.name, tmp_path / "dl2" / f.name, "0" * 32, quiet=True)
    assert not (tmp_path / "dl2" / f.name).exists()  # nothing half-done is left behind
    assert list((tmp_path / "dl2").iterdir()) == []
    with pytest.raises(OSError, match="HTTP 404"):
        download(http_server + "missing.gz", tmp_path / "dl3" / "m.gz", f.gz_md5, quiet=True)


def test_locate_downloads_from_the_first_working_mirror(monkeypatch, tmp_path, http_server):
    spec, arrays = _fake_dataset(tmp_path)
    spec = replace(spec, mirrors=("http://127.0.0.1:9/nothing-here/", http_server))
    monkeypatch.delenv("CNNLAB_OFFLINE", raising=False)
    paths = locate(spec, tmp_path / "root", quiet=True)
    for f in spec.files:
        assert paths[f.name] == tmp_path / "root" / "fake" / f.name
    monkeypatch.setitem(idx_datasets.IDX_DATASETS, "fake", spec)
    train, test = load_dataset("fake", tmp_path / "root", quiet=True)
    assert train.images.shape == (20, 1, 28, 28) and test.labels.tolist() == list(range(10))
    np.testing.assert_array_equal(train.images[:, 0].numpy(), arrays["train-images-idx3-ubyte.gz"])


def test_failed_download_says_how_to_fix(monkeypatch, tmp_path):
    spec, _ = _fake_dataset(tmp_path)
    spec = replace(spec, mirrors=("http://127.0.0.1:9/",))
    monkeypatch.delenv("CNNLAB_OFFLINE", raising=False)
    with pytest.raises(DataError, match=r"Fake not found .* the download failed .*--data-dir"):
        locate(spec, tmp_path / "root", quiet=True)


def test_unknown_dataset():
    with pytest.raises(
        DataError,
        match="unknown dataset 'cifar99'; choose one of: mnist, fashion-mnist, cifar10, cifar100, imagefolder",
    ):
        load_dataset("cifar99")


@pytest.mark.skipif(not FASHION_MNIST.known_dirs[0].exists(), reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_fashion_mnist_passes_the_uncompressed_checksums(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")
    train, test = load_dataset("fashion-mnist", tmp_path)
    assert len(train) == 60000 and len(test) == 10000
    x = train.images.double() / 255
    assert abs(x.mean().item() - FASHION_MNIST.mean) < 5e-5 and abs(x.std().item() - FASHION_MNIST.std) < 5e-5
