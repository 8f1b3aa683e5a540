"""The web app: a JSON API over an :class:`Inspector` and the page's static files.

    GET  /                      the page
    POST /api/predict           body: PNG bytes (Content-Type: image/png); ?activations=1
    POST /api/unit              body: PNG bytes; ?layer=C1&channel=0&y=3&x=4
    GET  /api/model             layer list, input pipeline and size table
    GET  /api/curves            the run's per-epoch metrics, planned epochs, label smoothing
    GET  /api/status            "training, epoch k of n" or "finished"; a version that grows
                                with every checkpoint that lands (the page polls it)
    GET  /api/filters           the first convolution's weights (base64 float32)
    GET  /api/mistakes          test images the run gets wrong, most confident first
    GET  /api/sample?index=N    test image N as PNG (its label in X-Label)
    GET  /static/..., /viz/...  the page's files; `cnnlab viz report` output

Every error is a 4xx with one line of JSON, ``{"error": "..."}``; the server keeps serving.
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from cnnlab.errors import CnnlabError
from cnnlab.serve.body_limit import DrainUnreadBody
from cnnlab.serve.digit import MAX_PIXELS, BadImage, encode_png, native_from_png
from cnnlab.serve.inspector import Inspector
from cnnlab.serve.predict_pool import PredictPool, bug_message

STATIC = Path(__file__).parent / "static"
MAX_BODY = 2 * 1024 * 1024  # bytes


def as_json(result: dict) -> Response:
    """json.dumps straight away: FastAPI's encoder walks every float of the activations (3× slower)."""
    return Response(json.dumps(result, separators=(",", ":")), media_type="application/json")


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def read_png(request: Request, max_body: int) -> bytes:
    """The request body, refused early when it is not a PNG or too large (what is left of a
    refused body is read and thrown away by :class:`DrainUnreadBody`, so that every client
    receives the answer)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "image/png":
        shown = ctype or "none"
        raise BadImage(415, f"Content-Type is {shown}; send the raw PNG bytes with Content-Type: image/png")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_body:
        raise BadImage(413, f"body of {int(declared):,} bytes is over the {max_body:,}-byte limit")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            raise BadImage(413, f"body is over the {max_body:,}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    inspector: Inspector, max_body: int = MAX_BODY, max_pixels: int = MAX_PIXELS, pool: PredictPool | None = None
) -> FastAPI:
    """The app; ``pool``: where /api/predict runs (default: in this process, on the event loop)."""
    predictor = pool if pool is not None else PredictPool(inspector, 0, max_pixels)
    app = FastAPI(title="cnnlab", docs_url=None, redoc_url=None)  # the docs UIs load from a CDN
    app.add_middleware(DrainUnreadBody)  # a 413 (or any early answer) reaches every client

    @app.exception_handler(BadImage)
    async def bad_image(request: Request, exc: BadImage):
        return error(exc.status, str(exc))

    @app.exception_handler(CnnlabError)
    async def bad_request(request: Request, exc: CnnlabError):
        return error(400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_params(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "query")
        return error(422, f"bad parameter {where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception):  # a bug in cnnlab: one line, and keep serving
        return error(500, bug_message(exc))

    async def image_of(request: Request):
        data = await read_png(request, max_body)
        return native_from_png(data, inspector.native_shape, inspector.digits, max_pixels)

    @app.post("/api/predict")
    async def predict(request: Request, activations: bool = False):
        # in a worker process, or on the event loop itself (not in a thread: the hop to a thread
        # and back cost about as much as the prediction, and the Inspector serializes passes)
        status, body = await predictor.predict(await read_png(request, max_body), activations)
        return Response(body, status_code=status, media_type="application/json")

    @app.post("/api/unit")
    async def unit(request: Request, layer: str, channel: int = 0, y: int = 0, x: int = 0):
        img = await image_of(request)
        return as_json(await run_in_threadpool(inspector.unit, img, layer, channel, y, x))

    @app.get("/api/model")
    async def model():
        return await run_in_threadpool(inspector.model_info)

    @app.get("/api/curves")
    async def curves():
        return as_json(await run_in_threadpool(inspector.curves))

    @app.get("/api/status")
    async def status():
        return as_json(await run_in_threadpool(inspector.status))

    @app.get("/api/filters")
    async def filters():
        return as_json(await run_in_threadpool(inspector.first_filters) or {"layer": None})

    @app.get("/api/mistakes")
    async def mistakes(limit: int = 60):
        return as_json(await run_in_threadpool(inspector.mistakes, max(0, min(limit, 500))))

    @app.get("/api/sample")
    async def sample(index: int = 0):
        img, label = await run_in_threadpool(inspector.test_images.native, index)
        return Response(encode_png(img), media_type="image/png", headers={"X-Label": str(label)})

    @app.get("/")
    async def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    # StaticFiles resolves every path inside its own folder: "../" cannot leave it
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if inspector.viz_dir is not None:
        app.mount("/viz", StaticFiles(directory=inspector.viz_dir), name="viz")
    return app
