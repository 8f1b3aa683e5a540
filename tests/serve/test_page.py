"""The page in a real headless Chromium (Debian's package, driven by Playwright): every view,
the layout at each width, keyboard-only use, axe-core, and no console errors. Screenshots of
each view go to build/test-artifacts/ to look at.

One browser and one page per module; each test leaves the page as it found it (1440×900)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tests.serve.page_tools import CHROMIUM, click_unit, content_box, load_test_image, map_grid, needs_chromium

from cnnlab.serve.digit import encode_png

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "build" / "test-artifacts"
AXE = ROOT / "build" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = [(390, 844), (768, 1024), (1024, 768), (1440, 900), (1920, 1080)]

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser, server):
    base, _ = server
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto(base + "/")
    page.wait_for_selector("#probabilities .prob >> nth=9")
    page.wait_for_selector(".map[data-layer='output']")
    page.problems = problems
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield page
    page.close()


def shot(page, name: str, full: bool = False) -> None:
    page.screenshot(path=str(ARTIFACTS / f"serve_{name}.png"), full_page=full)


def draw(page, points, steps: int = 12) -> None:
    box = page.locator("#pad").bounding_box()
    x0, y0 = box["x"] * 1, box["y"]
    scale = box["width"] / 280
    page.mouse.move(x0 + points[0][0] * scale, y0 + points[0][1] * scale)
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x0 + x * scale, y0 + y * scale, steps=steps)
    page.mouse.up()


def rdbu_r(values: np.ndarray, scale: float) -> np.ndarray:
    """matplotlib's RdBu_r on a symmetric ±scale, as 8-bit RGB."""
    from matplotlib import colormaps

    t = (np.asarray(values, np.float64) / scale + 1) / 2
    return np.round(colormaps["RdBu_r"](np.clip(np.floor(t * 256), 0, 255).astype(int))[..., :3] * 255)


def pixels(page, selector: str) -> np.ndarray:
    """(H, W, 3) RGB of a canvas or an <img> on the page, at its own resolution."""
    data = page.evaluate(
        f"""async () => {{ let c = document.querySelector("{selector}");
        if (c.tagName === 'IMG') {{
          await c.decode();
          const d = document.createElement('canvas');
          [d.width, d.height] = [c.naturalWidth, c.naturalHeight];
          d.getContext('2d').drawImage(c, 0, 0);
          c = d;
        }}
        return [c.width, c.height, Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)]; }}"""
    )
    w, h, rgba = data
    return np.array(rgba, np.float64).reshape(h, w, 4)[..., :3]


def map_pixels(page, layer: str, channel: int) -> np.ndarray:
    """(H, W, 3) RGB of one map as shown: its layer's canvas read at the centre of each cell of the map's box."""
    h, w = map_grid(page, layer)
    data = page.evaluate(
        f"""(() => {{ const box = document.querySelector(".map[data-layer='{layer}'][data-channel='{channel}']");
        const c = box.parentElement.querySelector('canvas.atlas');
        const dpr = c.width / c.clientWidth;
        const x0 = (box.offsetLeft + box.clientLeft) * dpr, y0 = (box.offsetTop + box.clientTop) * dpr;
        const rgba = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, out = [];
        for (let y = 0; y < {h}; y++) for (let x = 0; x < {w}; x++) {{
          const px = Math.floor(x0 + ((x + 0.5) * box.clientWidth * dpr) / {w}), py = Math.floor(y0 + ((y + 0.5) * box.clientHeight * dpr) / {h});
          out.push(...rgba.slice(4 * (py * c.width + px), 4 * (py * c.width + px) + 3));
        }}
        return out; }})()"""
    )
    return np.array(data, np.float64).reshape(h, w, 3)


# ---- drawing and prediction -------------------------------------------------------------------
def test_the_pad_is_sent_as_the_grey_levels_the_server_would_compute(page):
    """For a 1-channel run the page sends its pad as an 8-bit grey PNG: exactly Pillow's grey of
    the pad's own RGBA PNG (so the same prediction), a quarter of the bytes to decode."""
    import io

    from PIL import Image

    page.click("#clear")
    draw(page, [(60, 50), (200, 90), (120, 240)])
    got = page.evaluate(
        """async () => {
            const pad = document.getElementById('pad');
            const { greyPng } = await import('/static/greypng.js');
            const bytes = async (blob) => Array.from(new Uint8Array(await blob.arrayBuffer()));
            const rgba = await new Promise((resolve) => pad.toBlob(resolve, 'image/png'));
            return { grey: await bytes(await greyPng(pad)), rgba: await bytes(rgba) };
        }"""
    )
    grey = Image.open(io.BytesIO(bytes(got["grey"])))
    rgba = Image.open(io.BytesIO(bytes(got["rgba"])))
    assert (grey.mode, grey.size, rgba.mode) == ("L", (280, 280), "RGBA")
    levels = np.asarray(grey)
    assert np.array_equal(levels, np.asarray(rgba.convert("L")))
    assert levels.max() == 255 and (levels > 0).mean() > 0.02  # the stroke is there, anti-aliased edges too
    assert len(np.unique(levels)) > 2
    page.click("#clear")
    assert not page.problems, page.problems


def test_an_empty_pad_says_draw_a_digit_and_a_drawn_one_is_predicted(page):
    page.click("#clear")
    assert page.inner_text("#prediction") == "draw a digit"
    assert page.locator("#probabilities .value").all_inner_texts() == ["–"] * 10
    draw(page, [(140, 45), (140, 235)])
    page.wait_for_function("document.getElementById('prediction').textContent === '1'", timeout=10000)
    shown = [float(v[:-1]) for v in page.locator("#probabilities .value").all_inner_texts()]
    assert shown[1] == max(shown) and abs(sum(shown) - 100) < 1.5
    shot(page, "after_drawing")
    page.click("#clear")
    assert page.inner_text("#prediction") == "draw a digit"
    assert not page.problems, page.problems


def test_uploading_a_test_digit_shows_it_as_the_network_sees_it(page, tmp_path, server):
    _, inspector = server
    img, label = inspector.test_images.native(0)
    path = tmp_path / "digit.png"
    path.write_bytes(encode_png(img))
    page.set_input_files("#upload", str(path))
    page.wait_for_function(f"document.getElementById('prediction').textContent === '{label}'", timeout=10000)
    grey = pixels(page, "#seen")[..., 0] / 255.0
    assert np.corrcoef(grey.ravel(), img.ravel())[0, 1] > 0.99  # the page shows the digit it sent
    assert not page.problems, page.problems


# ---- colours ----------------------------------------------------------------------------------
def test_the_colour_scale_is_matplotlibs_rdbu_r_and_c1_is_painted_with_it(page, server):
    _, inspector = server
    lut = page.evaluate("import('/static/colormap.js').then((m) => Array.from(m.LUT))")
    np.testing.assert_array_equal(np.array(lut).reshape(256, 3), rdbu_r(np.linspace(-1, 1, 512)[1::2], 1.0))
    load_test_image(page, server, 7)
    img, _ = inspector.test_images.native(7)
    with torch.no_grad():
        c1 = F.relu(inspector.model.C1(inspector.tensor(img)))[0].numpy()
    scale = np.abs(c1).max()
    shown = map_pixels(page, "C1", 3)
    expected = rdbu_r(c1[3], scale)
    assert np.abs(shown - expected).max() <= 12  # at most one step of the 256-step map
    assert (np.abs(shown - expected).max(-1) == 0).mean() > 0.95
    legend = page.inner_text(".layer[data-layer='C1'] .legend-labels")
    shown_scale = f"{scale:.2f}" if scale < 10 else f"{scale:.1f}"
    assert legend.split() == [f"−{shown_scale}", "0", f"+{shown_scale}"]


def test_the_maps_follow_their_boxes_when_the_layout_changes(page, server):
    """A layer's maps share one canvas under their boxes. When the boxes move (here: a wider gap
    between them, which also makes the grid taller), the next paint puts every map in its box
    again, not where the boxes were: the grid's ResizeObserver asks for it, no window event."""
    _, inspector = server
    load_test_image(page, server, 7)
    img, _ = inspector.test_images.native(7)
    with torch.no_grad():
        c3 = inspector.model.C3(F.max_pool2d(F.relu(inspector.model.C1(inspector.tensor(img))), 2))[0]
    box = ".map[data-layer='C3'][data-channel='9']"
    before = page.evaluate(f'document.querySelector("{box}").offsetTop')
    page.evaluate(f"document.querySelector(\"{box}\").parentElement.style.rowGap = '9px'")
    page.wait_for_timeout(300)  # the observer fires after layout; the repaint comes on the next frame
    assert page.evaluate(f'document.querySelector("{box}").offsetTop') != before  # the box did move
    scale = float(page.inner_text(".layer[data-layer='C3'] .legend-labels").split()[-1].lstrip("+"))
    for k in (0, 9, 15):
        shown = map_pixels(page, "C3", k)
        expected = rdbu_r(F.relu(c3[k]).numpy(), scale)
        assert np.abs(shown - expected).max(-1).mean() <= 12, f"C3 map {k} is not painted in its box"


def test_hovering_a_map_shows_the_unit_and_its_value(page, server):
    _, inspector = server
    load_test_image(page, server, 7)
    img, _ = inspector.test_images.native(7)
    with torch.no_grad():
        x = inspector.tensor(img)
        c1 = F.relu(inspector.model.C1(x))[0].numpy()
    for sel, h, w, expected in [
        (
            ".map[data-layer='C1'][data-channel='3']",
            28,
            28,
            lambda y, x_: f"C1 map 3 ({y}, {x_}) = {c1[3, y, x_]:.3f}",
        ),
        ("#seen", 28, 28, lambda y, x_: f"input ({y}, {x_}) = {x[0, 0, y, x_]:.3f} (normalized)"),
    ]:
        box = content_box(page, sel)
        for y, x_ in [(14, 9), (3, 20)]:
            page.mouse.move(box["x"] + (x_ + 0.5) * box["width"] / w, box["y"] + (y + 0.5) * box["height"] / h)
            assert page.is_visible("#tip")
            assert page.inner_text("#tip") == expected(y, x_).replace("-0.000", "0.000")
    page.mouse.move(5, 5)


def test_a_few_canvases_show_every_map_and_pictures_are_images(page, server):
    """Every <canvas> is a compositor layer of its own, copied at each frame Chromium commits; while
    the buffers for those copies are still being added (a fresh page's first stroke), each canvas
    costs 0.5-1.2 ms of main-thread CPU in one commit. A canvas per map, filter and test image
    (112) made 50-135 ms tasks while drawing (issue 17; benchmarks/serve_latency.py). So a layer's
    maps share one canvas and pictures that do not change are <img>s, with a unit shown too."""
    load_test_image(page, server, 3)
    for layer, channel in [("C3", 5), ("F5", 17)]:
        click_unit(page, layer, channel, 2, 2)
        canvases = page.evaluate(
            "[...document.querySelectorAll('canvas')].map((c) => c.id || c.className || c.ariaLabel)"
        )
        # the pad, what the network sees, the curves, one per layer (7), a conv unit's animated map
        assert len(canvases) <= 11, canvases
    assert page.locator(".map canvas").count() == 0
    assert page.locator("#mistakes img").count() == page.locator("#mistakes button").count() > 0
    page.click("#clear")
    blank = map_pixels(page, "C1", 0)
    assert (blank == [240, 241, 244]).all()  # an empty pad: every map blank
    assert not page.problems, page.problems


# ---- layout -----------------------------------------------------------------------------------
def overflow_report(page) -> list[str]:
    return page.evaluate(
        """(() => { const bad = [];
        const d = document.documentElement;
        if (d.scrollWidth > innerWidth) bad.push(`page ${d.scrollWidth} > ${innerWidth}`);
        for (const p of document.querySelectorAll('.panel')) {
          if (p.scrollWidth > p.clientWidth + 1) bad.push(`${p.id} ${p.scrollWidth} > ${p.clientWidth}`);
          const r = p.getBoundingClientRect();
          for (const c of p.querySelectorAll('canvas, img, table, .map, figure')) {
            const b = c.getBoundingClientRect();
            if (b.width && (b.right > r.right + 1 || b.left < r.left - 1)) bad.push(`${p.id}: ${c.tagName}.${c.className} sticks out`);
          }
        }
        return bad; })()"""
    )


@pytest.mark.parametrize("width,height", WIDTHS)
def test_nothing_overflows_at_each_width(page, server, width, height):
    page.set_viewport_size({"width": width, "height": height})
    try:
        load_test_image(page, server, 11)
        for layer, channel, y, x in [("C3", 5, 4, 6), ("F5", 3, 0, 0), ("output", 4, 0, 0)]:
            click_unit(page, layer, channel, y, x)
            page.wait_for_timeout(150)
            assert overflow_report(page) == [], (width, layer)
        click_unit(page, "C3", 5, 4, 6)
        page.wait_for_selector("#unit-body .anim")
        shot(page, f"{width}px", full=True)
    finally:
        page.set_viewport_size({"width": 1440, "height": 900})
    assert not page.problems, page.problems


def test_1440x900_shows_network_unit_and_probabilities_without_page_scroll(page, server):
    load_test_image(page, server, 11)
    click_unit(page, "C3", 5, 4, 6)
    size = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    assert size[0] <= 1440 and size[1] <= 900, size
    for sel in ["#network", "#unit-title", "#probabilities", "#pad", "#curves"]:
        box = page.locator(sel).bounding_box()
        assert box["y"] >= 0 and box["y"] + min(box["height"], 120) <= 900 and box["x"] + box["width"] <= 1440, sel
    net = page.locator("#network").bounding_box()
    prob = page.locator("#probabilities").bounding_box()
    assert net["y"] + net["height"] < 560 and prob["y"] + prob["height"] <= 900, (net, prob)
    # fully connected layers as compact grids: F5 12×10 cells, F6 12×7
    for layer, grid in [("F5", [12, 10]), ("F6", [12, 7]), ("output", [1, 10])]:
        h, w = map_grid(page, layer)
        box = content_box(page, f".map[data-layer='{layer}']")
        assert [w, h] == grid and box["width"] / w == box["height"] / h, (layer, box)  # square cells
    shot(page, "1440x900")


def test_a_phone_can_draw_by_touch_and_panels_stack(browser, server):
    base, _ = server
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = ctx.new_page()
    try:
        page.goto(base + "/")
        page.wait_for_selector(".map[data-layer='output']")
        box = page.locator("#pad").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
        page.evaluate(
            """(() => { const pad = document.getElementById('pad'); const r = pad.getBoundingClientRect();
            const at = (y) => ({ pointerId: 7, pointerType: 'touch', isPrimary: true, bubbles: true,
                                 clientX: r.left + r.width / 2, clientY: r.top + y * r.height });
            pad.dispatchEvent(new PointerEvent('pointerdown', at(0.15)));
            for (let k = 1; k <= 20; k++) pad.dispatchEvent(new PointerEvent('pointermove', at(0.15 + 0.035 * k)));
            pad.dispatchEvent(new PointerEvent('pointerup', at(0.85))); })()"""
        )
        page.wait_for_function("document.getElementById('prediction').textContent === '1'", timeout=10000)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        draw_box = page.locator("#draw-panel").bounding_box()
        net_box = page.locator("#network").bounding_box()
        assert net_box["y"] >= draw_box["y"] + draw_box["height"]  # stacked, not side by side
        shot(page, "phone", full=True)
    finally:
        ctx.close()


# ---- teaching views ---------------------------------------------------------------------------
def test_a_conv_unit_shows_its_inputs_and_the_animated_flip_and_filter(page, server):
    _, inspector = server
    load_test_image(page, server, 3)
    click_unit(page, "C3", 5, 4, 6)
    page.wait_for_selector("#unit-body .anim")
    assert page.inner_text("#unit-title").startswith("C3 (Conv2d) map 5, unit (4, 6)")
    assert page.locator(".map.chosen").count() == 1
    assert page.locator(".map.feeds[data-layer='S2']").count() == 6  # all six S2 maps feed it
    assert page.locator("#wires line").count() == 6
    assert page.locator(".map[data-layer='C3'][data-channel='5'] .mark.unit").is_visible()
    assert page.locator("#seen-box .mark.field").is_visible()  # its receptive field on the input
    assert float(page.get_attribute("#unit-body", "data-max-diff")) < 1e-4  # the browser's sum = the layer's
    readout = lambda: page.inner_text("#unit-body .controls output")  # noqa: E731
    assert readout().startswith("step 47 of 100: (4, 6)")
    page.click("button[aria-label='step forward']")
    assert readout().startswith("step 48 of 100: (4, 7)")
    page.click("button[aria-label='last position (the whole map)']")
    img, _ = inspector.test_images.native(3)
    with torch.no_grad():
        c3 = inspector.model.C3(inspector.model.S2(F.relu(inspector.model.C1(inspector.tensor(img)))))[0, 5]
    built = pixels(page, "#unit-body .anim canvas[aria-label$='being built']")
    assert np.abs(built - rdbu_r(c3.numpy(), np.abs(c3.numpy()).max())).max() <= 12
    page.click("button[aria-label='play or pause the animation']")
    page.wait_for_function("!document.querySelector('#unit-body .controls output').textContent.startsWith('step 1 of')")
    page.wait_for_timeout(300)
    page.click("button[aria-label='play or pause the animation']")
    assert not readout().startswith("step 100 of")  # it started over and moved on
    titles = [t.lower() for t in page.locator("#unit-body .viz-images figcaption").all_inner_texts()]
    assert any("top-9" in t for t in titles), titles
    assert page.locator("#unit-body img[src='/viz/examples_C3_5.png']").count() == 1
    shot(page, "conv_unit")
    assert not page.problems, page.problems


def test_a_c1_unit_shows_its_filter_and_the_arithmetic(page, server):
    _, inspector = server
    load_test_image(page, server, 3)
    click_unit(page, "C1", 3, 13, 13)
    page.wait_for_selector("#unit-body img.kernel")
    kernel = pixels(page, "#unit-body img.kernel")
    w = inspector.model.C1.weight[3, 0].detach().numpy()
    assert np.abs(kernel - rdbu_r(w, np.abs(w).max())).max() <= 12
    assert "bias" in page.inner_text("#unit-body .formula")
    assert page.locator("#unit-body table.arith td").count() == 25
    page.wait_for_selector("#unit img[src='/viz/filters.png']")


def test_a_pool_unit_shows_its_window_with_the_max_marked(page, server):
    load_test_image(page, server, 3)
    click_unit(page, "S2", 1, 5, 6)
    page.wait_for_selector("#unit-body td.best")
    values = [float(v) for v in page.locator("#unit-body table.arith td").all_inner_texts()]
    assert len(values) == 4 and float(page.inner_text("#unit-body td.best")) == max(values)
    assert page.locator(".map[data-layer='C1'][data-channel='1'] .mark.window").is_visible()
    assert page.locator("#unit-body .mark.window").is_visible() and page.locator("#unit-body .mark.unit").is_visible()
    shot(page, "pool_unit")


def test_an_fc_unit_names_its_inputs_and_draws_its_weights_like_its_input(page, server):
    load_test_image(page, server, 3)
    click_unit(page, "F5", 17)
    page.wait_for_selector("#unit-body table.terms")
    assert page.inner_text("#unit-title").startswith("F5 (Linear) unit 17")
    names = [r.split("\t")[0] for r in page.locator("#unit-body table.terms tbody tr").all_inner_texts()]
    assert len(names) == 8 and all(re.fullmatch(r"S4 map \d+ \(\d, \d\)", n) for n in names), names
    assert page.locator("#unit-body .weights-grid").first.locator("img").count() == 16  # 16 maps of 5×5
    shot(page, "fc_unit")
    click_unit(page, "F6", 5)
    page.wait_for_selector("#unit-body table.terms")
    names = [r.split("\t")[0] for r in page.locator("#unit-body table.terms tbody tr").all_inner_texts()]
    assert all(re.fullmatch(r"F5 unit \d+", n) for n in names), names


def test_the_output_shows_softmax_step_by_step(page, server):
    load_test_image(page, server, 3)
    click_unit(page, "output", 4)
    page.wait_for_selector("#softmax-next")
    assert page.get_attribute("table.softmax", "data-step") == "1"
    for _ in range(3):
        page.click("#softmax-next")
    assert page.get_attribute("table.softmax", "data-step") == "4"
    rows = page.locator("table.softmax tbody tr").all_inner_texts()
    logits = np.array([float(r.split("\t")[1]) for r in rows])
    shown = np.array([float(r.split("\t")[-1].rstrip("%")) for r in rows])
    np.testing.assert_allclose(shown, 100 * torch.softmax(torch.tensor(logits), 0).numpy(), atol=0.11)
    bars = [float(v[:-1]) for v in page.locator("#probabilities .value").all_inner_texts()]
    np.testing.assert_allclose(shown, bars, atol=0.11)
    assert "logit" in page.inner_text("#unit-body .formula")
    assert "ReLU" not in page.inner_text("#unit-body .formula")
    page.wait_for_selector("#unit img[src='/viz/class_4.png']")
    shot(page, "output_unit")
    assert not page.problems, page.problems


def test_curves_filters_and_mistakes(page, server):
    _, inspector = server
    totals = inspector.model_info()["size"]["totals"]
    rows = page.locator("#size tbody tr").all_inner_texts()
    assert rows[0].split()[0] == "C1", rows
    assert rows[-1].split() == ["total", f"{totals['units']:,}", "61,706", f"{totals['connections']:,}"], rows
    assert "training curves over 1 of 1 epochs" in page.get_attribute("#curves", "aria-label")
    assert "Label smoothing is on (ε = 0.1)" in page.inner_text("#curves-note")
    assert page.inner_text("#run-state").startswith("trained 1 epoch")
    assert page.locator("#filters > img").count() == 6
    w = inspector.model.C1.weight[0, 0].detach().numpy()
    scale = np.abs(inspector.model.C1.weight.detach().numpy()).max()
    assert np.abs(pixels(page, "#filters > img") - rdbu_r(w, scale)).max() <= 12
    page.wait_for_selector("#mistakes button")
    first = page.locator("#mistakes button").first
    index = int(first.get_attribute("data-index"))
    m = inspector.mistakes(1)["images"][0]
    assert index == m["index"]
    first.click()
    page.wait_for_function(
        f"document.getElementById('prediction').textContent === '{m['prediction']}' && "
        f"document.getElementById('sample-label').textContent === 'true label: {m['label']}'",
        timeout=10000,
    )
    shot(page, "mistakes")


# ---- access -----------------------------------------------------------------------------------
def test_keyboard_only_from_load_to_a_unit_panel(browser, server):
    base, _ = server
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    try:
        page.goto(base + "/")
        page.wait_for_selector(".map[data-layer='output']")
        stops = []
        for _ in range(12):
            page.keyboard.press("Tab")
            stops.append(page.evaluate("document.activeElement.id || document.activeElement.dataset.layer || ''"))
        assert stops[:10] == ["clear", "upload-button", "sample", "C1", "S2", "C3", "S4", "F5", "F6", "output"], stops
        for _ in range(9):
            page.keyboard.press("Shift+Tab")
        assert page.evaluate("document.activeElement.id") == "sample"
        page.keyboard.press("Enter")
        page.wait_for_function("document.getElementById('sample-label').textContent !== ''", timeout=10000)
        page.keyboard.press("Tab")
        for key in ["ArrowRight"] * 3 + ["ArrowDown"] * 2 + ["PageDown"]:
            page.keyboard.press(key)
        label = page.evaluate("document.activeElement.getAttribute('aria-label')")
        assert label.startswith("layer C1, map 1 of 6, unit (2, 3), value"), label
        page.keyboard.press("Enter")
        page.wait_for_function(
            "document.getElementById('unit-title').textContent.startsWith('C1 (Conv2d) map 1, unit (2, 3)')"
        )
        page.keyboard.press("Tab")  # on to S2, then a unit there
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")
        page.wait_for_function(
            "document.getElementById('unit-title').textContent.startsWith('S2 (MaxPool2d) map 0, unit (1, 0)')"
        )
        shot(page, "keyboard")
    finally:
        page.close()


def axe_script() -> str | None:
    if not AXE.is_file() and shutil.which("npm"):
        subprocess.run(
            ["npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(AXE.parents[2]), "axe-core"],
            capture_output=True,
            timeout=180,
            check=False,
        )
    return AXE.read_text() if AXE.is_file() else None


def test_axe_finds_no_serious_or_critical_violations(page, server):
    script = axe_script()
    if script is None:
        pytest.skip("axe-core could not be installed (npm install --prefix build/axe axe-core)")
    load_test_image(page, server, 3)
    found = {}
    try:
        for (width, height), layer, channel in [
            ((1440, 900), "C3", 5),
            ((1440, 900), "output", 4),
            ((390, 844), "S2", 1),
        ]:
            page.set_viewport_size({"width": width, "height": height})
            click_unit(page, layer, channel, 2, 2)
            page.wait_for_timeout(200)
            page.add_script_tag(content=script)
            result = page.evaluate("axe.run(document, { resultTypes: ['violations'] })")
            for v in result["violations"]:
                if v["impact"] in ("serious", "critical"):
                    found[v["id"]] = [n["target"] for n in v["nodes"]][:3]
    finally:
        page.set_viewport_size({"width": 1440, "height": 900})
    assert found == {}, found
