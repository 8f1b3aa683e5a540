"""Issue 14, item 8: a request body over the limit gets a 413 that every HTTP client receives:
Python's urllib (which sends the whole body before it reads, with ``Connection: close``),
a keep-alive client, a chunked body, bodies over the 64 MB drained before the answer, and a
client that reads while it sends when the body is past every bound."""

from __future__ import annotations

import http.client
import select
import socket
import threading
import time
import types
import urllib.error
import urllib.parse
import urllib.request

import pytest

from cnnlab.serve import body_limit

LIMIT = 1024  # bytes: the server's body limit in these tests (the real one is 2 MB)


@pytest.fixture
def server():
    """The serve app (its body check needs no model) on a free port, in a thread."""
    import uvicorn

    from cnnlab.cli.serve_cmd import bind
    from cnnlab.serve.app import create_app

    sock = bind("127.0.0.1", 0)
    app = create_app(types.SimpleNamespace(viz_dir=None), max_body=LIMIT)
    srv = uvicorn.Server(uvicorn.Config(app, log_level="critical"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert srv.started
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    srv.should_exit = True
    thread.join(5)


def post(url: str, body, content_type: str = "image/png") -> tuple[int, bytes]:
    request = urllib.request.Request(url + "/api/predict", data=body, headers={"Content-Type": content_type})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=60)
    return e.value.code, e.value.read()


def test_urllib_gets_the_413_for_5_mb(server):
    body = b"\x89PNG" + bytes(5 * 2**20)  # drained before the answer (under 64 MB)
    assert post(server, body) == (413, b'{"error":"body of 5,242,884 bytes is over the 1,024-byte limit"}')
    code, answer = post(server, body, "text/plain")
    assert code == 415 and b"Content-Type is text/plain" in answer


def test_urllib_gets_the_413_for_a_chunked_body(server):
    chunks = (bytes(2**20) for _ in range(5))  # no Content-Length: urllib sends it chunked
    code, answer = post(server, chunks)
    assert (code, answer) == (413, b'{"error":"body is over the 1,024-byte limit"}')


def test_a_keep_alive_client_can_go_on_after_a_413(server):
    conn = http.client.HTTPConnection(urllib.parse.urlsplit(server).netloc, timeout=30)
    conn.request("POST", "/api/predict", body=bytes(3 * 2**20), headers={"Content-Type": "image/png"})
    response = conn.getresponse()
    assert response.status == 413 and b"limit" in response.read()
    conn.request("GET", "/")  # the same connection
    response = conn.getresponse()
    assert response.status == 200 and b"<html" in response.read().lower()
    conn.close()


def test_urllib_gets_the_413_for_a_body_over_64_mb(server):
    body = bytes(body_limit.DRAIN_BYTES + 4 * 2**20)  # answered first, the rest read after the answer
    code, answer = post(server, body)
    assert code == 413 and b"over the 1,024-byte limit" in answer


def test_past_every_bound_the_answer_comes_first_and_the_connection_closes(server, monkeypatch):
    monkeypatch.setattr(body_limit, "DRAIN_BYTES", 2**20)
    monkeypatch.setattr(body_limit, "LINGER_BYTES", 2**20)
    size = 64 * 2**20  # far past both bounds
    host, port = urllib.parse.urlsplit(server).netloc.split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(
        f"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: {size}\r\n\r\n".encode()
    )
    answer, sent, closed = b"", 0, False
    chunk = bytes(2**16)
    deadline = time.monotonic() + 30
    while not closed and time.monotonic() < deadline:  # a client that reads while it sends (curl, a browser)
        readable, writable, _ = select.select([sock], [sock] if sent < size else [], [], 1)
        try:
            if readable:
                data = sock.recv(2**16)
                closed = data == b""
                answer += data
            elif writable:
                sent += sock.send(chunk)
        except OSError:  # the reset once the server stops reading
            closed = True
    sock.close()
    assert answer.startswith(b"HTTP/1.1 413 ") and answer.endswith(b'over the 1,024-byte limit"}'), answer[:300]
    assert closed and sent < size  # the server stopped reading: it did not take all 64 MB
