from __future__ import annotations

import contextlib
import threading
import time

import pytest
import uvicorn

from cnnlab.cli.serve_cmd import bind
from cnnlab.serve.app import create_app
from cnnlab.serve.inspector import Inspector
from cnnlab.train.run import config_for, run_training
from cnnlab.viz.report import write_report


@pytest.fixture(scope="session")
def served_run(tmp_path_factory):
    """A LeNet-5 trained for one epoch on 20,000 MNIST digits (~97%), with a small viz report (the first 6 channels of each conv layer)."""
    out = tmp_path_factory.mktemp("serve") / "lenet"
    run_training(
        config_for("lenet5", epochs=1, train_subset=20000, device="cpu"), out=out, quiet=True, echo=lambda s: None
    )
    write_report(out, out / "viz", steps=8, log=lambda s: None, max_channels=6)  # the tests use C1_2 and C3_5
    return out


@pytest.fixture(scope="session")
def server(served_run):
    """The app on a free loopback port, in a background thread: (base URL, inspector)."""
    with serving(Inspector(served_run, served_run / "viz")) as answer:
        yield answer


@contextlib.contextmanager
def serving(inspector: Inspector):
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(inspector), log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert srv.started, "the test server did not start"
    yield f"http://127.0.0.1:{port}", inspector
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="session")
def serve_inspector():
    """``with serve_inspector(inspector) as (base, inspector):`` the app on a free port."""
    return serving
