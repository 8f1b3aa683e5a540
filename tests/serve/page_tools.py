"""Driving the page in a test: put a test image on the pad, find a map's cells, click a unit."""

from __future__ import annotations

import contextlib
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium); .ci/run installs it"
)


@contextlib.contextmanager
def opened_page(server, layer: str):
    """A fresh Chromium page (1440×900) on ``server``'s app, once ``layer``'s maps are drawn:
    yields (page, errors), ``errors`` collecting the page's uncaught exceptions."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server[0] + "/")
            page.wait_for_selector(f".map[data-layer='{layer}']")
            yield page, errors
        finally:
            browser.close()


def load_test_image(page, server, index: int) -> int:
    """Put test image `index` on the pad (through the page's own code) and wait for its prediction."""
    _, inspector = server
    img, label = inspector.test_images.native(index)
    page.evaluate(f"import('/static/app.js').then((m) => m.loadSample({index}))")
    expected = inspector.predict(img)["prediction"]
    page.wait_for_function(f"document.getElementById('prediction').textContent === '{expected}'", timeout=10000)
    page.wait_for_function(f"document.getElementById('sample-label').textContent.endsWith('{label}')")
    return expected


def map_grid(page, layer: str) -> tuple[int, int]:
    """(rows, cols) of each of a layer's maps: a map's (H, W), or the grid of a fully connected layer."""
    return tuple(
        page.evaluate(
            f"import('/static/app.js').then((m) => {{ const v = m.state.views.get('{layer}'); return [v.h, v.w]; }})"
        )
    )


def content_box(page, selector: str) -> dict:
    """The area inside an element's border, in page coordinates: where a map box shows its cells."""
    return page.evaluate(
        f"""(() => {{ const e = document.querySelector("{selector}"); const r = e.getBoundingClientRect();
        return {{ x: r.left + e.clientLeft, y: r.top + e.clientTop, width: e.clientWidth, height: e.clientHeight }}; }})()"""
    )


def click_unit(page, layer: str, channel: int, y: int = 0, x: int = 0) -> None:
    """Click unit (y, x) of map `channel` (for FC layers: unit `channel` of the grid)."""
    sel = f".map[data-layer='{layer}'][data-channel='{0 if layer[0] in 'Fo' else channel}']"
    h, w = map_grid(page, layer)
    if layer[0] in "Fo":
        y, x = divmod(channel, w)
    box = content_box(page, sel)
    # Playwright's position is from the padding box's corner: inside the border, where the cells are
    page.locator(sel).click(position={"x": (x + 0.5) * box["width"] / w, "y": (y + 0.5) * box["height"] / h})
    page.wait_for_function(f"document.getElementById('unit-title').textContent.startsWith('{layer} (')", timeout=10000)
