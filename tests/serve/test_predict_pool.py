"""/api/predict in forked workers (``cnnlab serve --workers N``): the same answers as in the
server process, spread over the workers, a dead worker covered, nothing left behind."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cnnlab.serve.inspector import Inspector
from cnnlab.serve.predict_pool import PredictPool, answer

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")


def canvas_png(seed: int) -> bytes:
    """A drawing as the page's canvas sends it: 280×280 RGBA, opaque, white strokes on black."""
    rng = np.random.default_rng(seed)
    im = Image.new("RGBA", (280, 280), (0, 0, 0, 255))
    ImageDraw.Draw(im).line(
        [tuple(rng.integers(40, 240, 2).tolist()) for _ in range(3)], fill=(255, 255, 255, 255), width=18
    )
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


BODIES = [canvas_png(s) for s in range(6)] + [b"not a png", b""]


@pytest.fixture(scope="module")
def inspector(served_run):
    return Inspector(served_run)


def test_workers_answer_as_the_server_process_does(inspector):
    expected = [answer(inspector, b, True) for b in BODIES]
    assert [s for s, _ in expected] == [200] * 6 + [400, 400]
    pool = PredictPool(inspector, workers=2)
    try:
        assert len(set(pool.pids)) == 2 and os.getpid() not in pool.pids

        async def all_at_once():  # 3 rounds of 8 requests in flight together
            return await asyncio.gather(*[pool.predict(b, True) for b in BODIES * 3])

        got = asyncio.run(all_at_once())
    finally:
        pool.close()
    assert got == expected * 3  # byte for byte: the same prediction and every layer's maps
    first = json.loads(got[0][1])
    assert first["prediction"] == int(np.argmax(first["probabilities"])) and "layers" in first


def test_a_dead_worker_is_dropped_and_its_request_answered(inspector):
    pool = PredictPool(inspector, workers=2)
    try:

        async def go():
            await pool.predict(BODIES[0], False)  # the sockets are connected
            os.kill(pool.pids[0], signal.SIGKILL)
            os.kill(pool.pids[1], signal.SIGKILL)
            time.sleep(0.2)
            return [await pool.predict(b, False) for b in BODIES[:4]]

        got = asyncio.run(go())
    finally:
        pool.close()
    assert got == [answer(inspector, b, False) for b in BODIES[:4]]
    assert pool.alive == 0


def test_close_reaps_every_worker(inspector):
    pool = PredictPool(inspector, workers=2)
    pids = list(pool.pids)
    pool.close()
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # already reaped: no zombie left


def test_serve_with_two_workers_end_to_end(served_run):
    """The real command: two worker processes under the server, the page's payload answered as
    in-process, and none of them left once the server is stopped."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnnlab", "serve", str(served_run), "--port", "0", "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert m, line
        kids = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
        assert len(kids) == 2  # forked before the server says it is serving
        url = f"http://127.0.0.1:{m.group(1)}/api/predict?activations=1"
        inspector = Inspector(served_run)
        for body in BODIES[:3]:
            req = urllib.request.Request(url, data=body, headers={"Content-Type": "image/png"})
            with urllib.request.urlopen(req, timeout=30) as r:
                assert r.read() == answer(inspector, body, True)[1]
    except BaseException:
        proc.kill()
        raise
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()  # no server left behind by a failing test
            raise
    assert "Traceback" not in out, out
    for pid in kids:
        assert not Path(f"/proc/{pid}").exists()  # reaped by the server, not left running or as a zombie
