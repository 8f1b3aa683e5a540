"""The serve API against a real server on loopback: answers equal the model's own, every
bad request gets a one-line JSON 4xx, and the server keeps serving."""

from __future__ import annotations

import base64
import http.client
import io
import json
import random
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from tests.conftest import run_cli

from cnnlab.cli.serve_cmd import bind
from cnnlab.data import load_dataset
from cnnlab.serve.digit import decode_png, encode_png, to_mnist


def request(base: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """(status, headers, body bytes) over one raw connection: no client-side path cleaning."""
    url = urlparse(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


def unpack(packed: str) -> np.ndarray:
    """The server's base64 little-endian float32 -> a flat array."""
    return np.frombuffer(base64.b64decode(packed), "<f4")


def post_png(base: str, path: str, png: bytes, ctype: str | None = "image/png"):
    headers = {"Content-Type": ctype} if ctype else {}
    status, _, body = request(base, "POST", path, png, headers)
    return status, json.loads(body)


def png_of(img: np.ndarray) -> bytes:
    return encode_png(img)


def stroke_png(points, size=280, width=20) -> bytes:
    im = Image.new("L", (size, size), 0)
    ImageDraw.Draw(im).line(points, fill=255, width=width)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def digits():
    _, test = load_dataset("mnist")
    return test.images[:64, 0].numpy() / 255.0, test.labels[:64].numpy(), test


def assert_error(status: int, body: dict, expected_status: int, words: str) -> None:
    assert status == expected_status, (status, body)
    assert list(body) == ["error"] and "\n" not in body["error"] and words in body["error"], body


def test_predictions_equal_the_model_on_the_dataset(server, digits):
    base, inspector = server
    images, labels, test = digits
    x, _ = next(test.subset(slice(0, 64)).batches(64))
    with torch.no_grad():
        expected = torch.softmax(inspector.model(x), 1)
    for i in range(0, 64, 7):
        status, body = post_png(base, "/api/predict", png_of(images[i]))
        assert status == 200
        assert body["prediction"] == int(expected[i].argmax())
        np.testing.assert_allclose(body["probabilities"], expected[i].numpy(), atol=1e-5)
        assert len(body["probabilities"]) == 10 and "layers" not in body
    correct = sum(post_png(base, "/api/predict", png_of(images[i]))[1]["prediction"] == labels[i] for i in range(64))
    assert correct >= 58  # a one-epoch LeNet-5 gets ~97%


def test_activations_are_what_each_next_layer_receives(server, digits):
    base, inspector = server
    images, _, _ = digits
    status, body = post_png(base, "/api/predict?activations=1", png_of(images[3]))
    assert status == 200
    shapes = {layer["name"]: layer["shape"] for layer in body["layers"]}
    assert shapes == {
        "C1": [6, 28, 28],
        "S2": [6, 14, 14],
        "C3": [16, 10, 10],
        "S4": [16, 5, 5],
        "F5": [120],
        "F6": [84],
        "output": [10],
    }
    m = inspector.model
    x = inspector.tensor(images[3])
    with torch.no_grad():
        c1 = F.relu(m.C1(x))[0]
        f5 = F.relu(m.F5(m.S4(F.relu(m.C3(m.S2(c1[None])))).flatten(1)))[0]
    c1_json = unpack(body["layers"][0]["data"]).reshape(6, 28, 28)
    np.testing.assert_allclose(c1_json, c1.numpy(), atol=1e-6)
    np.testing.assert_allclose(unpack(body["layers"][4]["data"]), f5.numpy(), atol=1e-5)
    assert body["input"]["shape"] == [1, 28, 28]
    np.testing.assert_allclose(unpack(body["input"]["data"]), x[0, 0].numpy().ravel(), atol=1e-6)
    with torch.no_grad():
        logits = m(x)[0].numpy()
    np.testing.assert_allclose(body["logits"], logits, atol=1e-5)


def test_a_drawn_one_is_a_one(server):
    base, _ = server
    status, body = post_png(base, "/api/predict", stroke_png([(140, 50), (140, 230)]))
    assert status == 200 and body["prediction"] == 1, body


def test_unit_arithmetic_adds_up(server, digits):
    base, inspector = server
    png = png_of(digits[0][0])
    status, c1 = post_png(base, "/api/unit?layer=C1&channel=2&y=9&x=13", png)
    assert status == 200 and c1["kind"] == "conv"
    patch, kernel = np.array(c1["patch"]), np.array(c1["kernel"])
    assert patch.shape == kernel.shape == (1, 5, 5)
    assert (patch * kernel).sum() + c1["bias"] == pytest.approx(c1["output"], abs=1e-2)
    assert c1["sum"] == pytest.approx(c1["output"], abs=1e-4)
    assert c1["activation"] == pytest.approx(max(c1["output"], 0.0), abs=1e-5)  # ReLU
    np.testing.assert_allclose(kernel, inspector.model.C1.weight[2].detach().numpy(), atol=1e-3)
    assert c1["receptive_field"] == {"y0": 7, "y1": 12, "x0": 11, "x1": 16, "size": [5.0, 5.0]}
    # the report's Distill pair for every conv channel (C1 too), and the first-layer filters
    assert [i["url"] for i in c1["images"]] == ["/viz/examples_C1_2.png", "/viz/features_C1_2.png", "/viz/filters.png"]

    status, c3 = post_png(base, "/api/unit?layer=C3&channel=5&y=4&x=6", png)
    assert status == 200 and np.array(c3["patch"]).shape == (6, 5, 5)
    assert sum(c3["per_channel"]) + c3["bias"] == pytest.approx(c3["output"], abs=1e-4)
    assert c3["receptive_field"]["size"] == [14.0, 14.0]
    assert {"/viz/examples_C3_5.png", "/viz/features_C3_5.png"} <= {i["url"] for i in c3["images"]}

    # what feeds it: every S2 map (LeNet-5 here is fully connected), and its whole output map
    assert c3["feeds"] == list(range(6)) and c3["input_layer"] == "S2"
    x = inspector.tensor(digits[0][0])
    with torch.no_grad():
        s2_out = inspector.model.S2(F.relu(inspector.model.C1(x)))
        c3_map = inspector.model.C3(s2_out)[0, 5]
    np.testing.assert_allclose(unpack(c3["input_maps"]["data"]).reshape(6, 14, 14), s2_out[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(unpack(c3["output_map"]["data"]).reshape(10, 10), c3_map.numpy(), atol=1e-6)

    status, s2 = post_png(base, "/api/unit?layer=S2&channel=1&y=3&x=3", png)
    assert s2["kind"] == "pool" and np.max(s2["window"]) == pytest.approx(s2["output"], abs=1e-3)
    c1_map = unpack(s2["input_map"]["data"]).reshape(28, 28)
    (y0, x0), (by, bx) = s2["window_origin"], s2["argmax"]
    assert (y0, x0) == (6, 6) and c1_map[y0 + by, x0 + bx] == pytest.approx(s2["output"], abs=1e-5)
    assert c1_map[y0 : y0 + 2, x0 : x0 + 2].max() == pytest.approx(s2["output"], abs=1e-5)

    status, f5 = post_png(base, "/api/unit?layer=F5&channel=3", png)
    assert f5["weights_layout"] == [16, 5, 5]
    with torch.no_grad():
        v = inspector.model.S4(F.relu(inspector.model.C3(s2_out))).flatten()
    for term in f5["top_terms"]:  # flat index i of S4's 16×5×5 output is map i // 25 at ((i % 25) // 5, i % 5)
        i = term["index"]
        assert term["name"] == f"S4 map {i // 25} ({(i % 25) // 5}, {i % 5})"
        assert term["input"] == pytest.approx(float(v[i]), abs=1e-3)
    terms = [abs(t["input"] * t["weight"]) for t in f5["top_terms"]]
    assert terms == sorted(terms, reverse=True)

    status, out = post_png(base, "/api/unit?layer=output&channel=7", png)
    assert out["kind"] == "linear" and out["sum"] + out["bias"] == pytest.approx(out["output"], abs=1e-4)
    assert out["last"] and out["logits"][7] == pytest.approx(out["output"], abs=1e-5)
    np.testing.assert_allclose(out["probabilities"], torch.softmax(torch.tensor(out["logits"]), 0), atol=1e-5)
    assert "/viz/class_7.png" in [i["url"] for i in out["images"]]
    for image in c3["images"] + out["images"]:
        status, _, data = request(base, "GET", image["url"])
        assert status == 200 and data[:8] == b"\x89PNG\r\n\x1a\n"


def test_model_and_curves(server):
    base, inspector = server
    status, _, body = request(base, "GET", "/api/model")
    info = json.loads(body)
    assert status == 200 and [layer["name"] for layer in info["layers"]] == [
        "C1",
        "S2",
        "C3",
        "S4",
        "F5",
        "F6",
        "output",
    ]
    assert [layer["params"] for layer in info["layers"]] == [156, 0, 2416, 0, 48120, 10164, 850]
    size = {r["name"]: r for r in info["size"]["layers"]}
    assert size["C1"]["connections"] == 28 * 28 * 6 * 26 and info["size"]["totals"]["weights"] == 61706
    status, _, body = request(base, "GET", "/api/curves")
    curves = json.loads(body)
    epochs = curves["epochs"]
    assert status == 200 and len(epochs) == 1 and 0.9 < epochs[0]["test_accuracy"] <= 1
    assert curves["epochs_planned"] == 1 and curves["label_smoothing"] == 0.1  # LeNet-5's recipe
    status, _, body = request(base, "GET", "/api/status")
    assert json.loads(body)["status"] == "finished" and json.loads(body)["epochs_done"] == 1
    status, _, body = request(base, "GET", "/api/filters")
    filters = json.loads(body)
    assert filters["layer"] == "C1" and filters["shape"] == [6, 1, 5, 5]
    np.testing.assert_allclose(
        unpack(filters["data"]).reshape(6, 1, 5, 5), inspector.model.C1.weight.detach().numpy(), atol=0
    )
    status, headers, png = request(base, "GET", "/api/sample?index=5")
    _, test = load_dataset("mnist")
    assert status == 200 and int(headers["X-Label"]) == int(test.labels[5])
    np.testing.assert_allclose(to_mnist(decode_png(png)) * 255, test.images[5, 0].numpy(), atol=1e-3)


def truncated_png(png: bytes) -> bytes:
    return png[: len(png) // 2]


def bomb_png(width=50_000, height=50_000) -> bytes:
    """A tiny PNG whose header claims width×height pixels."""
    png = stroke_png([(0, 0), (1, 1)], size=8)
    ihdr = struct.pack(">II", width, height) + png[24:29]
    chunk = b"IHDR" + ihdr
    return png[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + png[33:]


def jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (28, 28)).save(buf, "JPEG")
    return buf.getvalue()


BAD = {  # name -> (path, body, content type, status, words in the error)
    "too large": ("/api/predict", b"\x89PNG" + b"\0" * (2 * 1024 * 1024 + 10), "image/png", 413, "limit"),
    "not an image": ("/api/predict", b"hello, world", "image/png", 400, "not a readable PNG"),
    "empty": ("/api/predict", b"", "image/png", 400, "empty body"),
    "bomb": ("/api/predict", None, "image/png", 413, "pixels"),
    "no content type": ("/api/predict", None, None, 415, "Content-Type"),
    "wrong content type": ("/api/predict", None, "application/json", 415, "Content-Type"),
    "a jpeg": ("/api/predict", None, "image/png", 415, "JPEG"),
    "truncated": ("/api/predict", None, "image/png", 400, "damaged or truncated"),
    "unknown layer": ("/api/unit?layer=C9", None, "image/png", 400, "no layer 'C9'"),
    "bad channel": ("/api/unit?layer=C1&channel=6", None, "image/png", 400, "out of range"),
    "bad position": ("/api/unit?layer=C1&channel=0&y=40", None, "image/png", 400, "outside"),
    "bad parameter": ("/api/predict?activations=maybe", None, "image/png", 422, "activations"),
}


def bad_body(name: str, good: bytes) -> bytes:
    path, body, *_ = BAD[name]
    if body is not None:
        return body
    return {"bomb": bomb_png(), "a jpeg": jpeg_bytes(), "truncated": truncated_png(good)}.get(name, good)


@pytest.mark.parametrize("name", list(BAD))
def test_bad_requests_get_one_line_json_errors(server, digits, name):
    base, _ = server
    path, _, ctype, expected, words = BAD[name]
    status, body = post_png(base, path, bad_body(name, png_of(digits[0][1])), ctype)
    assert_error(status, body, expected, words)


def test_no_path_traversal(server, served_run):
    base, _ = server
    for path in [
        "/static/../config.json",
        "/static/..%2f..%2fconfig.json",
        "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/viz/../config.json",
        "/viz/..%2fconfig.json",
        "/viz/%2e%2e/model.safetensors",
        "/static//etc/passwd",
    ]:
        status, _, body = request(base, "GET", path)
        assert status == 404, path
        assert b"model" not in body and b"root:" not in body
    assert request(base, "GET", "/viz/filters.png")[0] == 200
    assert request(base, "GET", "/static/app.js")[0] == 200


def test_two_hundred_mixed_requests_from_four_clients(server, digits):
    base, inspector = server
    images, _, test = digits
    x, _ = next(test.subset(slice(0, 64)).batches(64))
    with torch.no_grad():
        expected = inspector.model(x).argmax(1).tolist()
    rng = random.Random(0)
    plan = [
        ("good", rng.randrange(64)) if rng.random() < 0.6 else (rng.choice(list(BAD)), rng.randrange(64))
        for _ in range(200)
    ]

    def one(item):
        kind, i = item
        good = png_of(images[i])
        if kind == "good":
            status, body = post_png(base, "/api/predict", good)
            return status == 200 and body["prediction"] == expected[i]
        path, _, ctype, code, _ = BAD[kind]
        status, body = post_png(base, path, bad_body(kind, good), ctype)
        return status == code and list(body) == ["error"]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, plan))
    assert sum(k == "good" for k, _ in plan) > 100
    assert all(results), [plan[i] for i, ok in enumerate(results) if not ok][:5]
    assert post_png(base, "/api/predict", png_of(images[0]))[0] == 200  # still serving


def test_cli_errors_are_one_line():
    p = run_cli("serve", "/nonexistent/run")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "does not exist" in p.stderr
    taken = bind("127.0.0.1", 0)
    try:
        port = taken.getsockname()[1]
        p = run_cli("serve", "--help")
        assert p.returncode == 0 and "127.0.0.1" in p.stdout
        with pytest.raises(Exception, match=f"cannot listen on 127.0.0.1:{port}.*another --port"):
            bind("127.0.0.1", port)
    finally:
        taken.close()


def test_listening_socket_is_tcp_so_answers_are_not_held_by_nagle():
    import socket

    sock = bind("127.0.0.1", 0)
    try:
        # asyncio sets TCP_NODELAY only on sockets whose proto is TCP; a proto of 0 cost 40 ms a request
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


def test_mistakes_are_the_test_images_the_model_gets_wrong(server, digits):
    base, inspector = server
    _, _, test = digits
    status, _, body = request(base, "GET", "/api/mistakes?limit=5")
    m = json.loads(body)
    with torch.no_grad():
        pred = torch.cat([inspector.model(x).argmax(1) for x, _ in test.batches(1000)])
    wrong = (pred != test.labels).nonzero().flatten()
    assert status == 200 and m["count"] == len(wrong) and m["total"] == len(test) and len(m["images"]) == 5
    confidences = [i["confidence"] for i in m["images"]]
    assert confidences == sorted(confidences, reverse=True)
    for item in m["images"]:
        k = item["index"]
        assert item["label"] == int(test.labels[k]) != item["prediction"] == int(pred[k])
        pixels = np.frombuffer(base64.b64decode(item["pixels"]), np.uint8).reshape(1, 28, 28)
        np.testing.assert_array_equal(pixels, test.images[k].numpy())


def test_the_unit_panel_lists_every_viz_file_the_report_wrote(served_run, tmp_path):
    from cnnlab.serve.inspector import Inspector

    viz = tmp_path / "viz"
    viz.mkdir()
    for name in ["examples_C3_5.png", "features_C3_5.png", "features_C1_2.png", "class_3.png", "filters.png"]:
        (viz / name).write_bytes(png_of(np.zeros((4, 4))))
    inspector = Inspector(served_run, viz)
    urls = lambda layer, c: [i["url"] for i in inspector._viz_images(layer, c)]  # noqa: E731
    assert urls("C3", 5) == ["/viz/examples_C3_5.png", "/viz/features_C3_5.png"]
    assert urls("C1", 2) == ["/viz/features_C1_2.png", "/viz/filters.png"]
    assert urls("output", 3) == ["/viz/class_3.png"]
    assert urls("C3", 4) == [] and urls("F5", 5) == []
