"""Calling the CLI in this process (much faster than a subprocess) and checking the
one-line error contract: exit code, a single `cnnlab: error:` line, no traceback."""

from __future__ import annotations

import dataclasses

from cnnlab.cli import main


@dataclasses.dataclass
class Result:
    code: int
    out: str
    err: str


def cli(capsys, *args: str) -> Result:
    """Run ``cnnlab ARGS`` through :func:`cnnlab.cli.main`; its exit code and what it printed."""
    capsys.readouterr()  # drop anything printed before
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def one_line(result: Result, *fragments: str, code: int = 2) -> str:
    """Assert ``result`` is one clear error line with exit ``code`` holding every fragment."""
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert result.code == code, (result.code, result.err)
    assert len(lines) == 1, result.err
    assert lines[0].startswith("cnnlab: error: "), result.err
    assert "Traceback" not in result.err + result.out and "internal error" not in lines[0], result.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def png_header(path, width: int, height: int, mode_byte: int = 0) -> None:
    """A PNG whose header claims width × height (8-bit gray) with no real pixel data: Pillow
    opens it (lazily) and any attempt to decode it fails, so a test that refuses it from the
    header allocates nothing."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, mode_byte, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )
