"""The page in a real headless Chromium (Debian's package, driven by Playwright): drawing,
uploading, clicking a unit, and no console errors. Leaves a screenshot in
build/test-artifacts/ to look at."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from cnnlab.data import load_dataset
from cnnlab.serve.digit import encode_png

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium); .ci/run installs it"
)


@pytest.fixture(scope="module")
def page(server):
    sync_api = pytest.importorskip("playwright.sync_api")
    base, _ = server
    problems: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.goto(base + "/")
        page.wait_for_selector("#probabilities .prob >> nth=9")
        page.wait_for_selector("#layers canvas")
        page.problems = problems
        yield page
        browser.close()


def draw(page, points) -> None:
    box = page.locator("#pad").bounding_box()
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + points[0][0], y0 + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x0 + x, y0 + y, steps=12)
    page.mouse.up()


def test_drawing_a_one_shows_a_prediction_and_probabilities(page):
    page.click("#clear")
    draw(page, [(140, 45), (140, 235)])
    page.wait_for_function("document.getElementById('prediction').textContent === '1'", timeout=10000)
    values = page.locator("#probabilities .value").all_inner_texts()
    assert len(values) == 10 and all(v.endswith("%") for v in values)
    shown = [float(v[:-1]) for v in values]
    assert shown[1] == max(shown) and abs(sum(shown) - 100) < 1.5
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve_after_drawing.png"), full_page=True)
    assert not page.problems, page.problems


def test_uploading_a_test_digit_shows_its_label(page, tmp_path, server):
    _, inspector = server
    _, test = load_dataset("mnist")
    # three digits of different classes, each classified correctly by the served model
    chosen = []
    for i in range(50):
        img = test.images[i, 0].numpy() / 255.0
        label = int(test.labels[i])
        if inspector.predict(img)["prediction"] == label and label not in {c[1] for c in chosen} and label != 1:
            chosen.append((img, label))
        if len(chosen) == 3:
            break
    for k, (img, label) in enumerate(chosen):
        path = tmp_path / f"digit{k}.png"
        path.write_bytes(encode_png(img))
        page.set_input_files("#upload", str(path))
        page.wait_for_function(f"document.getElementById('prediction').textContent === '{label}'", timeout=10000)
        seen = page.evaluate(
            "Array.from(document.getElementById('seen').getContext('2d').getImageData(0,0,28,28).data)"
        )
        grey = np.array(seen).reshape(28, 28, 4)[..., 0] / 255.0
        assert np.corrcoef(grey.ravel(), img.ravel())[0, 1] > 0.99  # the page shows the digit it sent
    assert not page.problems, page.problems


def test_clicking_a_c1_unit_shows_its_filter(page, server):
    _, inspector = server
    page.locator("#layers canvas[data-layer='C1'][data-channel='3']").click(position={"x": 26, "y": 26})
    page.wait_for_selector("#unit:not([hidden]) canvas.kernel")
    title = page.inner_text("#unit-title")
    assert title.startswith("C1 (Conv2d) map 3"), title
    kernel = page.evaluate(
        "Array.from(document.querySelector('#unit canvas.kernel').getContext('2d').getImageData(0,0,5,5).data)"
    )
    weights = inspector.model.C1.weight[3, 0].detach().numpy()
    red = np.array(kernel).reshape(5, 5, 4)[..., 0]
    # positive weights are drawn bright, negative ones dark red-channel: the ordering must agree
    assert np.corrcoef(red.ravel(), np.maximum(weights, 0).ravel())[0, 1] > 0.9
    assert "bias" in page.inner_text("#unit .formula")
    page.wait_for_selector("#unit img[src='/viz/filters.png']")
    page.locator("#layers .cell[data-layer='output'][data-channel='4']").click()
    page.wait_for_selector("#unit img[src='/viz/class_4.png']")
    assert page.inner_text("#unit-title").startswith("output (Linear) unit 4")
    page.screenshot(path=str(ARTIFACTS / "serve_unit.png"), full_page=True)
    assert not page.problems, page.problems


def test_side_panels(page, server):
    _, inspector = server
    totals = inspector.model_info()["size"]["totals"]
    rows = page.locator("#size tbody tr").all_inner_texts()
    assert rows[0].split()[0] == "C1", rows
    assert rows[-1].split() == ["total", f"{totals['units']:,}", "61,706", f"{totals['connections']:,}"], rows
    pixels = page.evaluate(
        "Array.from(document.getElementById('curves').getContext('2d').getImageData(0,0,320,220).data).filter((v,i)=>i%4==3&&v>0).length"
    )
    assert pixels > 500  # the curves were drawn
    assert not page.problems, page.problems
