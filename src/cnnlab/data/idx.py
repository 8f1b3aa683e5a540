"""The IDX file format of MNIST and Fashion-MNIST, read with every failure named.

An IDX file is a 4-byte magic number ``00 00 TT DD`` (TT: element type, DD: number of
dimensions), then DD big-endian int32 sizes, then the elements in C order, big-endian.
The files usually come gzipped. See http://yann.lecun.com/exdb/mnist/ (bottom of page).
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

import numpy as np

from cnnlab.errors import DataError

# IDX type code -> numpy dtype (big-endian where it matters)
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"


def read_payload(path: str | Path) -> bytes:
    """The file's bytes, gunzipped when they are gzip data (detected by content, not name)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    if raw[:2] != GZIP_MAGIC:
        if path.suffix == ".gz":
            raise DataError(
                f"{path}: not gzip data (starts with {raw[:4].hex() or 'nothing'}); "
                "the file is corrupt: delete it and download it again"
            )
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise DataError(
            f"{path}: truncated gzip file ({len(raw)} bytes, ends before its end-of-stream "
            "marker); delete it and download it again"
        ) from None
    except (gzip.BadGzipFile, zlib.error, OSError) as e:
        raise DataError(f"{path}: corrupt gzip data ({e}); delete it and download it again") from None


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into an array, checking the magic number and the header sizes.

    >>> parse_idx(bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 9]))
    array([7, 9], dtype=uint8)
    """
    if len(data) < 4:
        raise DataError(f"{source}: {len(data)} bytes is too short for an IDX header (needs at least 4)")
    zero, code, ndim = data[:2], data[2], data[3]
    if zero != b"\x00\x00" or code not in IDX_DTYPES or ndim == 0:
        raise DataError(
            f"{source}: wrong IDX magic number 0x{data[:4].hex()} (expected 0x0000TTDD with "
            f"type TT in {{08,09,0b,0c,0d,0e}} and DD>0 dimensions); this is not an IDX file"
        )
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DataError(
            f"{source}: wrong header size: the magic number declares {ndim} dimensions "
            f"({header_len} header bytes) but the file has only {len(data)} bytes"
        )
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header_len
    if actual != expected:
        raise DataError(
            f"{source}: wrong header size: header says shape {shape} ({expected} data bytes) "
            f"but the file holds {actual} data bytes; the file is truncated or not this dataset"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def read_idx(path: str | Path, md5: str | None = None) -> np.ndarray:
    """Read an IDX file (gzipped or not); if ``md5`` is given, the *uncompressed* contents
    must match it, so an original ``.gz``, a re-compressed copy (Debian's) and a gunzipped
    copy are all accepted, and any change to the data is not."""
    data = read_payload(path)
    arr = parse_idx(data, str(path))
    if md5 is not None:
        got = md5_hex(data)
        if got != md5:
            raise DataError(
                f"{path}: checksum mismatch (md5 of the uncompressed data is {got}, expected "
                f"{md5}); the file is corrupt or a different dataset: delete it and download it again"
            )
    return arr


def encode_idx(arr: np.ndarray) -> bytes:
    """The IDX bytes for ``arr`` (the inverse of :func:`parse_idx`); used to write test data."""
    codes = {v.newbyteorder("="): k for k, v in IDX_DTYPES.items()}
    dtype = np.dtype(arr.dtype).newbyteorder("=")
    if dtype not in codes:
        raise ValueError(f"IDX cannot store dtype {arr.dtype}; use uint8, int8, int16, int32, float32 or float64")
    code = codes[dtype]
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(arr).astype(IDX_DTYPES[code]).tobytes()
