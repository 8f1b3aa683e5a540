"""Any run: a `--resize` run and a 3-channel run (an image tree) are served with their own
preprocessing and class names, and a run still training is served and follows its
checkpoints (a checkpoint written during the test appears on the page)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.serve.inspector import Inspector
from cnnlab.train.checkpoint import save_checkpoint
from cnnlab.train.run import config_for, load_data, run_training
from cnnlab.train.run_dir import RunDir

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"


def train(out, **kw):
    run_training(config_for("lenet5", epochs=1, device="cpu", **kw), out=out, quiet=True, echo=lambda s: None)
    return out


def test_a_resize_run_is_served_with_its_own_preprocessing(tmp_path):
    out = train(tmp_path / "r32", train_subset=1000, test_subset=200, resize=32)
    inspector = Inspector(out)
    assert inspector.input_shape == (1, 32, 32)
    cfg, _ = RunDir.open(out).read_config()
    _, test = load_data(cfg, torch.device("cpu"), quiet=True)
    x, _ = next(test.batches(8))  # the training pipeline's own test batch: 28×28 -> 32×32
    with torch.no_grad():
        expected = torch.softmax(inspector.model(x), 1)
    for i in range(8):
        img, _ = inspector.test_images.native(i)
        np.testing.assert_allclose(inspector.tensor(img)[0].numpy(), x[i].numpy(), atol=1e-5)
        np.testing.assert_allclose(inspector.predict(img)["probabilities"], expected[i].numpy(), atol=1e-5)
    shapes = [layer["shape"] for layer in inspector.predict(img, activations=True)["layers"]]
    assert shapes[0] == [6, 28, 28] and shapes[4] == [120]  # 32×32 without padding
    assert inspector.unit(img, "C1", 0, 3, 3)["receptive_field"]["size"] == [5.0, 5.0]


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory):
    """LeNet-5 trained for one epoch on a tiny image tree of red and blue squares (3 channels)."""
    root = tmp_path_factory.mktemp("tree")
    rng = np.random.default_rng(0)
    for split, n in (("train", 16), ("val", 6)):
        for name, colour in (("blue_things", (30, 60, 220)), ("red_things", (220, 40, 30))):
            (root / split / name).mkdir(parents=True)
            for k in range(n):
                px = np.clip(np.array(colour) + rng.normal(0, 25, (40, 40, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(px).save(root / split / name / f"{k}.png")
    out = train(root / "run", dataset="imagefolder", data_dir=str(root), resize=32, workers=0, batch_size=8)
    return out


def test_a_three_channel_run_is_served_with_its_class_names(colour_run):
    inspector = Inspector(colour_run)
    assert inspector.input_shape == (3, 32, 32)
    assert inspector.classes == ["blue_things", "red_things"]
    cfg, _ = RunDir.open(colour_run).read_config()
    _, test = load_data(cfg, torch.device("cpu"), quiet=True)
    x, labels = next(test.batches(12))
    with torch.no_grad():
        expected = torch.softmax(inspector.model(x), 1)
    for i in range(0, 12, 5):
        img, label = inspector.test_images.native(i)
        assert img.shape == (3, 32, 32) and label == int(labels[i])
        np.testing.assert_allclose(inspector.tensor(img)[0].numpy(), x[i].numpy(), atol=1e-5)
        np.testing.assert_allclose(inspector.predict(img)["probabilities"], expected[i].numpy(), atol=1e-5)
    assert inspector.unit(img, "C1", 0, 2, 2)["input_maps"]["shape"] == [3, 32, 32]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_the_page_serves_a_three_channel_run(colour_run, serve_inspector):
    sync_api = pytest.importorskip("playwright.sync_api")
    with serve_inspector(Inspector(colour_run)) as (base, _), sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base + "/")
        page.wait_for_selector("#probabilities .prob >> nth=1")
        assert page.locator("#probabilities .name").all_inner_texts() == ["0: blue_things", "1: red_things"]
        page.click("#sample")
        page.wait_for_function("document.getElementById('sample-label').textContent.startsWith('true label: ')")
        page.wait_for_function("document.getElementById('prediction').textContent.length === 1")
        red, green, blue = np.array(
            page.evaluate("Array.from(document.getElementById('seen').getContext('2d').getImageData(16,16,1,1).data)")
        )[:3]
        assert abs(int(red) - int(blue)) > 100  # the input is shown in colour
        page.screenshot(path=str(ARTIFACTS / "serve_rgb_run.png"))
        browser.close()
        assert errors == []


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_a_run_still_training_shows_each_checkpoint_as_it_lands(tmp_path, served_run, serve_inspector):
    sync_api = pytest.importorskip("playwright.sync_api")
    live = tmp_path / "live"
    live.mkdir()
    stored = json.loads((served_run / "config.json").read_text())
    stored["config"]["epochs"] = 3
    (live / "config.json").write_text(json.dumps(stored))
    inspector = Inspector(live)  # no weights yet: the model's initial ones
    assert inspector.status()["status"] == "training" and inspector.status()["weights"] is None
    trained = Inspector(served_run)
    with serve_inspector(inspector) as (base, _), sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(base + "/")
        page.wait_for_function("document.getElementById('run-state').textContent.startsWith('training, epoch 1 of 3')")
        assert "no checkpoint yet" in page.inner_text("#run-state")
        # the trainer finishes epoch 1: a metrics line, then a checkpoint
        row = json.loads((served_run / "metrics.jsonl").read_text().splitlines()[0])
        (live / "metrics.jsonl").write_text(json.dumps(row) + "\n")
        save_checkpoint(live, {"model": trained.model.state_dict(), "epoch": 2, "step": 0})
        t0 = time.monotonic()
        page.wait_for_function(
            "document.getElementById('run-state').textContent === 'training, epoch 2 of 3' && "
            "document.getElementById('filters').dataset.version === '1'",
            timeout=15000,
        )
        assert time.monotonic() - t0 < 10
        assert "over 1 of 3 epochs" in page.get_attribute("#curves", "aria-label")
        shown = page.evaluate(  # the first filter, an <img>: drawn on a canvas of its own size to read it
            """async () => { const img = document.querySelector('#filters > img'); await img.decode();
            const c = document.createElement('canvas'); [c.width, c.height] = [img.naturalWidth, img.naturalHeight];
            const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
            return Array.from(ctx.getImageData(0, 0, 5, 5).data); }"""
        )
        w = trained.model.C1.weight.detach()
        from matplotlib import colormaps

        t = (w[0, 0].numpy() / w.abs().max().item() + 1) / 2
        expected = np.round(colormaps["RdBu_r"](np.clip(np.floor(t * 256), 0, 255).astype(int))[..., :3] * 255)
        assert np.abs(np.array(shown).reshape(5, 5, 4)[..., :3] - expected).max() <= 12  # the new filters
        torch.testing.assert_close(inspector.model.C1.weight, trained.model.C1.weight)
        browser.close()
