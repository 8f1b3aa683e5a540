"""The IDX reader, and one clear error for each way a file can be wrong."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from cnnlab.data.idx import encode_idx, md5_hex, parse_idx, read_idx
from cnnlab.data.idx_datasets import load_idx_split
from cnnlab.errors import DataError
from tests.conftest import write_idx


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (1, 1, 1, 7)])
def test_roundtrip_every_type_and_rank(dtype, shape):
    arr = (np.arange(np.prod(shape)) * 3 - 5).astype(dtype).reshape(shape)
    back = parse_idx(encode_idx(arr))
    assert back.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(back, arr)


def test_header_is_big_endian():
    # the MNIST spec: magic 0x00000803, then sizes as big-endian int32
    data = encode_idx(np.zeros((2, 3, 4), dtype=np.uint8))
    assert data[:16].hex() == "00000803000000020000000300000004"


def test_gzipped_and_plain_files_read_the_same(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    a = read_idx(write_idx(tmp_path / "a.gz", arr, gz=True))
    b = read_idx(write_idx(tmp_path / "b", arr, gz=False))
    np.testing.assert_array_equal(a, b)


def test_truncated_gzip(tmp_path, idx_pair):
    images = idx_pair[0]
    cut = tmp_path / "cut-idx3-ubyte.gz"
    cut.write_bytes(images.read_bytes()[: images.stat().st_size // 2])
    with pytest.raises(DataError, match=r"cut-idx3-ubyte\.gz: truncated gzip file"):
        read_idx(cut)


def test_corrupt_gzip_bytes(tmp_path, idx_pair):
    raw = bytearray(idx_pair[0].read_bytes())
    raw[30:60] = bytes(30)  # zero a stretch of the deflate stream
    bad = tmp_path / "bad.gz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"bad\.gz: (corrupt gzip data|truncated gzip file)"):
        read_idx(bad)


def test_gzip_crc_mismatch(tmp_path):
    raw = bytearray(gzip.compress(encode_idx(np.arange(100, dtype=np.uint8))))
    raw[-8] ^= 0xFF  # flip the stored CRC32
    bad = tmp_path / "crc.gz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"crc\.gz: corrupt gzip data"):
        read_idx(bad)


def test_gz_name_without_gzip_data(tmp_path):
    bad = tmp_path / "notgz.gz"
    bad.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(DataError, match=r"notgz\.gz: not gzip data"):
        read_idx(bad)


@pytest.mark.parametrize("magic", [b"\x01\x00\x08\x01", b"\x00\x00\x07\x01", b"\x00\x00\x08\x00", b"PK\x03\x04"])
def test_wrong_magic_number(tmp_path, magic):
    f = tmp_path / "magic-idx1-ubyte"
    f.write_bytes(magic + b"\x00\x00\x00\x01" + b"\x05")
    with pytest.raises(DataError, match=r"magic-idx1-ubyte: wrong IDX magic number 0x" + magic.hex()):
        read_idx(f)


def test_header_shorter_than_declared_dimensions(tmp_path):
    f = tmp_path / "short"
    f.write_bytes(b"\x00\x00\x08\x03" + b"\x00\x00\x00\x02")  # 3 dims declared, 1 size given
    with pytest.raises(DataError, match=r"short: wrong header size: the magic number declares 3 dimensions"):
        read_idx(f)


@pytest.mark.parametrize("delta", [-1, +1, -784])
def test_header_size_disagrees_with_data(tmp_path, delta):
    data = encode_idx(np.zeros((3, 28, 28), dtype=np.uint8))
    data = data[:delta] if delta < 0 else data + b"\x00" * delta
    f = tmp_path / "sizes.gz"
    f.write_bytes(gzip.compress(data))
    with pytest.raises(DataError, match=r"sizes\.gz: wrong header size: header says shape \(3, 28, 28\)"):
        read_idx(f)


def test_tiny_file(tmp_path):
    f = tmp_path / "tiny"
    f.write_bytes(b"\x00\x00")
    with pytest.raises(DataError, match="too short for an IDX header"):
        read_idx(f)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.gz: file not found"):
        read_idx(tmp_path / "nope.gz")


def test_checksum_mismatch(idx_pair):
    images, _, arr, _ = idx_pair
    good = md5_hex(encode_idx(arr))
    np.testing.assert_array_equal(read_idx(images, good), arr)  # the right md5 passes
    with pytest.raises(
        DataError, match=r"images-idx3-ubyte\.gz: checksum mismatch \(md5 of the uncompressed data is " + good
    ):
        read_idx(images, "0" * 32)


def test_images_and_labels_of_different_counts(tmp_path, idx_pair):
    images, _, _, labels = idx_pair
    short = write_idx(tmp_path / "short-labels.gz", labels[:-1])
    with pytest.raises(DataError, match=r"holds 12 images but .*short-labels\.gz holds 11 labels"):
        load_idx_split(images, short)


def test_error_messages_are_one_line(tmp_path):
    bad = tmp_path / "x.gz"
    bad.write_bytes(b"\x1f\x8b" + b"garbage")
    with pytest.raises(DataError) as info:
        read_idx(bad)
    assert "\n" not in str(info.value)
