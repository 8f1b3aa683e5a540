"""/api/predict in forked worker processes, so that a multi-core machine answers several
drawings at once.

The server is one Python process: uvicorn's event loop parses every request, and a
prediction with every layer's maps (PNG decode, MNIST centring, the forward pass, the JSON)
costs it as much again. With 4 pages drawing at once on a 2-core machine they queue behind
one another on one core. With ``workers=N`` the event loop only reads the PNG bytes and
hands them to an idle worker over a socket pair; the N workers, forked once the run is
loaded, answer in parallel. Idle workers wait in a queue, so the work spreads evenly
whatever connection a request came on.

Linux only (a fork after torch has loaded, with one intra-op thread, is safe there); on
other systems, and with ``workers=0``, the prediction runs in the server process. A worker
that dies is dropped and its request answered in the server process; with none left, every
prediction is. Workers exit when the server closes its end of their socket (so also when it
dies), and ignore Ctrl-C (the server shuts them down).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import struct
import sys
import time

import torch

from cnnlab.errors import CnnlabError
from cnnlab.serve.digit import MAX_PIXELS, BadImage, native_from_png
from cnnlab.serve.inspector import Inspector

REQUEST = struct.Struct("<BI")  # activations flag, PNG length
REPLY = struct.Struct("<HI")  # HTTP status, body length


def bug_message(exc: BaseException) -> str:
    return f"internal error: {type(exc).__name__}: {exc} (a bug in cnnlab; please report it)"


def error_body(message: str) -> bytes:
    """``{"error": "..."}`` as Starlette's JSONResponse writes it."""
    return json.dumps({"error": message}, ensure_ascii=False, separators=(",", ":")).encode()


def answer(inspector: Inspector, data: bytes, activations: bool, max_pixels: int = MAX_PIXELS) -> tuple[int, bytes]:
    """PNG bytes -> (HTTP status, JSON body) of /api/predict: the prediction, or one line of error."""
    try:
        img = native_from_png(data, inspector.native_shape, inspector.digits, max_pixels)
        return 200, json.dumps(inspector.predict(img, activations), separators=(",", ":")).encode()
    except BadImage as e:
        return e.status, error_body(str(e))
    except CnnlabError as e:
        return 400, error_body(str(e))
    except Exception as e:  # a bug in cnnlab: one line, and keep serving
        return 500, error_body(bug_message(e))


def default_workers() -> int:
    """2 on a Linux machine with 2 or more cores, else 0 (predict in the server process)."""
    return 2 if sys.platform == "linux" and (os.cpu_count() or 1) >= 2 else 0


class PredictPool:
    """``workers`` forked processes answering :func:`answer` (0: in this process)."""

    def __init__(self, inspector: Inspector, workers: int = 0, max_pixels: int = MAX_PIXELS) -> None:
        if workers < 0:
            raise CnnlabError(f"workers must be 0 or more, not {workers}")
        if workers and sys.platform != "linux":
            workers = 0  # forking a process that has loaded torch is only safe on Linux
        self.inspector = inspector
        self.max_pixels = max_pixels
        self.pids: list[int] = []
        self._socks: list[socket.socket] = []
        for _ in range(workers):
            ours, theirs = socket.socketpair()
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:  # the worker
                ours.close()
                for s in self._socks:
                    s.close()
                _work(theirs, inspector, max_pixels)  # never returns
            theirs.close()
            self._socks.append(ours)
            self.pids.append(pid)
        self._idle: asyncio.Queue | None = None  # (reader, writer) of each idle worker
        self.alive = workers

    async def predict(self, data: bytes, activations: bool) -> tuple[int, bytes]:
        """(HTTP status, JSON body) for one PNG."""
        if self.alive == 0:
            return answer(self.inspector, data, activations, self.max_pixels)
        if self._idle is None:
            self._idle = asyncio.Queue()
            for s in self._socks:
                self._idle.put_nowait(await asyncio.open_connection(sock=s))
        # shielded: a client that goes away mid-request must not leave a reply unread in a
        # worker's socket (the next request would read it) nor take the worker out of the queue
        return await asyncio.shield(self._exchange(data, activations))

    async def _exchange(self, data: bytes, activations: bool) -> tuple[int, bytes]:
        assert self._idle is not None
        reader, writer = await self._idle.get()
        try:
            writer.write(REQUEST.pack(int(activations), len(data)) + data)
            await writer.drain()
            status, n = REPLY.unpack(await reader.readexactly(REPLY.size))
            body = await reader.readexactly(n)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            writer.close()  # the worker died: drop it, answer here
            self.alive -= 1
            return answer(self.inspector, data, activations, self.max_pixels)
        self._idle.put_nowait((reader, writer))
        return status, body

    def close(self, timeout: float = 5.0) -> None:
        """Close the workers' sockets (they exit on the end of input) and reap them."""
        for s in self._socks:
            s.close()
        self._socks = []
        for pid in self.pids:
            if not _reaped(pid, timeout):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        self.pids = []
        self.alive = 0


def _reaped(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return True
        if done:
            return True
        time.sleep(0.01)
    return False


def _work(sock: socket.socket, inspector: Inspector, max_pixels: int) -> None:
    """A worker's life: read a request, answer it, until the server closes the socket."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which ends us
    # one thread, as torch's DataLoader workers do: an OpenMP pool the parent had started does
    # not survive the fork, and a parallel region on it would never return
    torch.set_num_threads(1)
    code = 0
    try:
        stream = sock.makefile("rwb")
        while True:
            head = stream.read(REQUEST.size)
            if len(head) < REQUEST.size:
                break  # the server closed its end
            activations, n = REQUEST.unpack(head)
            data = stream.read(n)
            if len(data) < n:
                break
            status, body = answer(inspector, data, bool(activations), max_pixels)
            stream.write(REPLY.pack(status, len(body)) + body)
            stream.flush()
    except BaseException:  # the server went away mid-reply, or worse: exit, it answers itself
        code = 1
    finally:
        os._exit(code)
