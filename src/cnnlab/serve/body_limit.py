"""Answering before a request's body has been read, so that every HTTP client gets the answer
(issue 14: a 5 MB POST from Python's urllib saw "connection reset" instead of the 413).

urllib sends the whole body before it reads a byte of the answer, and asks for
``Connection: close``. A server that answers a 413 after 2 MB of a 5 MB body and then closes
leaves unread data behind, so the kernel resets the connection and the client never reads
the 413. So, whenever the app answers a request whose body it has not read to the end:

1. the rest is read and thrown away, up to ``DRAIN_BYTES`` in all, *before* the answer goes
   out (the connection stays usable for clients that keep it alive);
2. beyond that the answer goes out at once (curl and browsers read while they send, see it
   and stop), but the response is held open while the rest is read and thrown away, up to
   ``LINGER_BYTES`` more or ``LINGER_SECONDS``: urllib, done sending, then reads the answer,
   and the connection closes (``Connection: close``) with nothing unread: no reset;
3. past those bounds the connection is closed: a client that reads while it sends already has
   the answer; one still sending sees the connection end.

Nothing is kept: the discarded bytes cost time, not memory. A client that waits for
``100 Continue`` before sending is answered without being asked for the body.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

DRAIN_BYTES = 64 * 2**20  # read and discarded before the answer
LINGER_BYTES = 2 * 2**30  # read and discarded after the answer, with the response held open
LINGER_SECONDS = 30.0  # at most this long


class DrainUnreadBody:
    """ASGI middleware: see the module doc. ``app.add_middleware(DrainUnreadBody)``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not _has_body(scope["headers"]):
            await self.app(scope, receive, send)
            return
        body = _Body(receive, _expects_continue(scope["headers"]))

        async def answer(message: dict) -> None:
            if message["type"] == "http.response.start" and not body.finished:
                await body.discard(DRAIN_BYTES)
                if not body.finished:  # the rest is read after the answer, then the connection ends
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            if message["type"] == "http.response.body" and not message.get("more_body") and not body.finished:
                await send({**message, "more_body": True})  # the whole answer, the response still open
                await body.discard(DRAIN_BYTES + LINGER_BYTES, LINGER_SECONDS)
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app(scope, body.receive, answer)


class _Body:
    """The request body as the app reads it, counted, and the rest thrown away on request."""

    def __init__(self, receive: Any, waits_for_continue: bool) -> None:
        self._receive = receive
        self._waits = waits_for_continue
        self._asked = False  # the app (or the drain) has asked for the body
        self.read = 0  # bytes received so far
        self.done = False  # the whole body was received (or the client went away)

    @property
    def finished(self) -> bool:
        # a client waiting for "100 Continue" that was never asked has sent nothing to drain
        return self.done or (self._waits and not self._asked)

    async def receive(self) -> dict:
        self._asked = True
        message = await self._receive()
        if message["type"] == "http.request":
            self.read += len(message.get("body", b""))
            self.done = not message.get("more_body", False)
        else:  # http.disconnect
            self.done = True
        return message

    async def discard(self, max_bytes: int, max_seconds: float | None = None) -> None:
        """Read and drop the rest, until ``max_bytes`` have been read in all or the time is up."""
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        while not self.done and self.read < max_bytes:
            if deadline is None:
                await self.receive()
                continue
            try:
                await asyncio.wait_for(self.receive(), timeout=max(deadline - time.monotonic(), 0))
            except TimeoutError:
                return


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"", b"0")):
            return True
    return False


def _expects_continue(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name == b"expect" and value.strip().lower() == b"100-continue" for name, value in headers)
