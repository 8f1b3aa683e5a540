"""``cnnlab serve RUN_DIR``: the interactive page for a run, trained or still training."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnlab.cli import checks
from cnnlab.cli.app import app
from cnnlab.cli.output import info
from cnnlab.errors import CnnlabError


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one), or a one-line error."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise CnnlabError(f"cannot resolve --host {host} ({e.strerror}); use 127.0.0.1 or a local address") from None
    family, kind, proto, _, address = infos[0]
    # proto must say TCP: asyncio sets TCP_NODELAY only on sockets that do, and without it
    # Nagle's algorithm holds each response body for the client's delayed ACK (~40 ms)
    sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise CnnlabError(
            f"cannot listen on {host}:{port} ({e.strerror}); pass another --port (0 picks a free one)"
        ) from None
    sock.listen(128)
    return sock


@app.command()
def serve(
    run_dir: Annotated[Path, typer.Argument(help="A run folder from `cnnlab train` (finished or still training).")],
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 exposes it to your network).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free port).")] = 8000,
    viz: Annotated[
        Optional[Path], typer.Option(help="`cnnlab viz report` folder to show per unit [RUN_DIR/viz if present].")
    ] = None,
    threads: Annotated[int, typer.Option(help="Torch threads per request (1 is fastest for small nets).")] = 1,
    workers: Annotated[
        Optional[int],
        typer.Option(
            help="Processes answering predictions in parallel (Linux; 0: in the server process) "
            "[2 on a Linux machine with 2 or more cores, else 0]."
        ),
    ] = None,
) -> None:
    """Serve a page where you draw a digit and watch every layer of the network respond.

    Example: cnnlab train --out runs/lenet && cnnlab viz report runs/lenet -o runs/lenet/viz
    && cnnlab serve runs/lenet
    """
    import torch
    import uvicorn

    checks.port(port)
    checks.at_least(threads, 1, "--threads")
    if workers is not None:
        checks.at_least(workers, 0, "--workers")

    from cnnlab.serve.app import create_app
    from cnnlab.serve.inspector import Inspector
    from cnnlab.serve.predict_pool import PredictPool, default_workers

    viz_dir = viz if viz is not None else (run_dir / "viz" if (run_dir / "viz").is_dir() else None)
    if viz_dir is not None and not viz_dir.is_dir():
        raise CnnlabError(f"--viz {viz_dir} is not a folder; write one with `cnnlab viz report {run_dir} -o {viz_dir}`")
    torch.set_num_threads(max(1, threads))
    inspector = Inspector(run_dir, viz_dir)
    sock = bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    pool = PredictPool(inspector, default_workers() if workers is None else workers)  # forks: before any loop
    info(f"serving {inspector.run.name} at http://{shown_host}:{bound_port}/  (Ctrl-C stops)")
    config = uvicorn.Config(create_app(inspector, pool=pool), log_level="warning", access_log=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        pool.close()
