"""The viz commands and the report page (opened in headless Chromium)."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from tests.conftest import assert_one_line_error, run_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_filters_of_fc_and_conv_first_layers(trained_lenet, tmp_path):
    proc = run_cli("viz", "filters", str(trained_lenet), "-o", str(tmp_path / "c1.png"))
    assert proc.returncode == 0, proc.stderr and "layer C1" in proc.stdout
    fc = run_cli("viz", "filters", "fc-baseline", "-o", str(tmp_path / "fc.png"))
    assert fc.returncode == 0, fc.stderr
    assert "28×28 image" in fc.stdout  # the lecture's "Fully connected (MNIST)" picture
    rgb = run_cli("viz", "filters", "alexnet", "-o", str(tmp_path / "alexnet.png"))
    assert rgb.returncode == 0 and "in colour" in rgb.stdout
    assert Image.open(tmp_path / "alexnet.png").mode == "RGBA"


def test_layers_examples_features_saliency(trained_lenet, tmp_path):
    layers = run_cli("viz", "layers", "resnet18")
    assert layers.returncode == 0 and "layer4.1.conv2" in layers.stdout
    ex = run_cli(
        "viz",
        "examples",
        str(trained_lenet),
        "--layer",
        "C3",
        "--channel",
        "2",
        "-k",
        "4",
        "-o",
        str(tmp_path / "ex.png"),
    )
    assert ex.returncode == 0, ex.stderr
    fv = run_cli(
        "viz",
        "features",
        str(trained_lenet),
        "--layer",
        "C3",
        "--channel",
        "1",
        "--steps",
        "20",
        "--snapshots",
        "0,4,10",
        "-o",
        str(tmp_path / "fv.png"),
    )
    assert fv.returncode == 0, fv.stderr
    before, after = (float(v) for v in re.search(r"objective (-?[\d.]+) → (-?[\d.]+)", fv.stdout).groups())
    assert after > before
    assert "snapshots at steps [0, 4, 10, 20]" in fv.stdout
    width, height = Image.open(tmp_path / "fv.png").size
    assert width > 2 * height  # one row of 4 labelled snapshots
    sal = run_cli(
        "viz", "saliency", str(trained_lenet), "--index", "3", "--smoothgrad", "4", "-o", str(tmp_path / "sal.png")
    )
    assert sal.returncode == 0, sal.stderr
    # labelled: a title above and a label under each of the three tiles (the bare strip was one
    # row of tiles, as tall as a tile), on white
    png = np.asarray(Image.open(tmp_path / "sal.png").convert("L"))
    tile = png.shape[1] // 3
    assert png.shape[0] > tile + 30 and png[:8].min() > 200 and png[-8:].mean() > 200


def test_cli_errors(trained_lenet, tmp_path):
    out = str(tmp_path / "x.png")
    assert_one_line_error(
        run_cli("viz", "features", str(trained_lenet), "--layer", "C9", "--channel", "0", "-o", out),
        "no layer 'C9'",
        "C1, S2, C3",
    )
    assert_one_line_error(
        run_cli("viz", "features", str(trained_lenet), "--layer", "C3", "--channel", "40", "-o", out),
        "channel 40 is out of range for layer 'C3', which has 16 channels",
    )
    assert_one_line_error(run_cli("viz", "filters", "lenet9", "-o", out), "unknown model 'lenet9'")
    assert_one_line_error(run_cli("viz", "features", "lenet5", "-o", out), "choose exactly one of")


def test_report_page_loads_every_image_in_chromium(trained_lenet, tmp_path):
    out = tmp_path / "report"
    proc = run_cli("viz", "report", str(trained_lenet), "-o", str(out), "--steps", "16", timeout=600)
    assert proc.returncode == 0, proc.stderr
    page = (out / "index.html").read_text()
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert "filters.png" in sources and len([s for s in sources if s.startswith("unit_C3_")]) == 16
    assert {"weights_C3.png", "weights_F5.png", "weights_F6.png"} <= set(sources)
    units = re.findall(r'<img src="([^"]+)"', (out / "units.html").read_text())
    assert len([s for s in units if s.startswith("unit_C1_")]) == 6 and len(units) == 6 + 16
    for layer, channels in (("C1", 6), ("C3", 16)):
        for c in range(channels):  # the unit panel of `cnnlab serve` shows these two
            assert (out / f"examples_{layer}_{c}.png").is_file() and (out / f"features_{layer}_{c}.png").is_file()
    assert (
        len([s for s in sources if s.startswith("class_")]) == 10
        and len([s for s in sources if s.startswith("saliency_")]) == 6
    )
    assert all((out / s).is_file() for s in sources)
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium); .ci/run installs it")
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            (out / "index.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    loaded = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)
    assert loaded, dom[:500]
    assert loaded.group(1) == loaded.group(2) == str(len(sources))
