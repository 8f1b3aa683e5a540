"""Issue 14, item 1: every size a user types is estimated before anything is allocated, and
refused beyond the limit in one line naming the flag and the limit.

The refused requests are terabytes: a test that allocated them would die, not fail, so each
test also checks (tracemalloc, which numpy reports to) that little was allocated.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import typer
from PIL import Image

from cnnlab import limits
from cnnlab.errors import ResourceError
from tests.hostile.inprocess import cli, one_line, png_header

SMALL = 100 * 2**20  # bytes: what a refusal may allocate at most (the model, the parser, lazy imports)


@pytest.fixture
def traced():
    # imported first: importing torch's and torchvision's modules under tracemalloc is slow
    # and their own allocations are not what the tests measure
    import cnnlab.conv.image  # noqa: F401
    import cnnlab.experiments.invariance  # noqa: F401
    import cnnlab.size  # noqa: F401
    import cnnlab.viz.render  # noqa: F401

    tracemalloc.start()
    yield
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < SMALL, f"a refused request allocated {peak / 2**20:.0f} MiB"


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 50), dtype=np.uint8)).save(path)
    return path


def test_limit_sources_and_sizes(monkeypatch):
    assert limits.parse_size("8G") == 8 * 10**9 and limits.parse_size("2.5GiB") == int(2.5 * 2**30)
    assert limits.parse_size("512M") == 512 * 10**6 and limits.parse_size("1000") == 1000
    for bad in ("", "-1G", "3X", "G"):
        with pytest.raises(ResourceError, match="not a memory size"):
            limits.parse_size(bad)
    monkeypatch.delenv(limits.ENV, raising=False)
    limit, source = limits.max_memory()
    assert 0 < limit <= limits.available_memory() and source.startswith("half the")
    monkeypatch.setenv(limits.ENV, "3G")
    assert limits.max_memory() == (3 * 10**9, "CNNLAB_MAX_MEMORY=3G")
    with pytest.raises(ResourceError, match=r"--scale 9 needs about 2\.0 GiB, over .* 1\.0 GiB .* --max-memory"):
        limits.check(2 * 2**30, "--scale 9", "lower --scale", limit=2**30)
    limits.check(2**30, "--scale 9", "lower --scale", limit=2**30)  # at the limit: allowed


def test_max_memory_flag_and_env_are_used(capsys, monkeypatch, tmp_path, image):
    out = tmp_path / "o.png"
    line = one_line(cli(capsys, "--max-memory", "1k", "filter", image, "-k", "blur", "-o", out), "--max-memory 1k")
    assert "reading image" in line and not out.exists()
    monkeypatch.setenv(limits.ENV, "2k")
    one_line(cli(capsys, "filter", image, "-k", "blur", "-o", out), "CNNLAB_MAX_MEMORY=2k")
    one_line(cli(capsys, "--max-memory", "lots", "models"), "--max-memory 'lots' is not a memory size")
    monkeypatch.delenv(limits.ENV)
    assert cli(capsys, "filter", image, "-k", "blur", "-o", out).code == 0 and out.exists()


def test_viz_features_scale(capsys, tmp_path, traced):
    out = tmp_path / "x.png"
    args = ("viz", "features", "lenet5", "--class", "3", "--steps", "10", "-o", out)
    one_line(cli(capsys, *args, "--scale", "1000"), "--scale 1000", "100,000,000-pixel limit", "lower --scale")
    # under the pixel limit but over a small memory limit
    one_line(cli(capsys, "--max-memory", "50M", *args, "--scale", "8"), "--scale 8", "--max-memory 50M")
    one_line(cli(capsys, *args, "--batch", "100000000"), "--batch 100000000")
    assert not out.exists()


def test_viz_examples_k(capsys, tmp_path, tiny_run, traced):
    out = tmp_path / "x.png"
    line = one_line(
        cli(capsys, "viz", "examples", tiny_run, "--layer", "C1", "--channel", "0", "-k", "20000", "-o", out),
        "-k 20000",
    )
    assert "pixel" in line or "memory" in line
    one_line(cli(capsys, "viz", "examples", tiny_run, "--layer", "C1", "--channel", "0", "-k", "0", "-o", out), "-k")
    assert not out.exists()


def test_filter_grid_of_a_thin_image_stays_small(capsys, tmp_path):
    thin = tmp_path / "thin.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (2000, 5), dtype=np.uint8)).save(thin)
    out = tmp_path / "grid.png"
    # the 2000×5 panel was 1,700 inches tall (3.8 GB); its height is now capped at 3 widths
    assert cli(capsys, "--max-memory", "300M", "filter", thin, "-k", "blur", "--grid", "-o", out).code == 0
    w, h = Image.open(out).size
    assert h < 3000 and w < 2000, (w, h)
    many = ["-k", "blur"] * 60
    line = one_line(cli(capsys, "--max-memory", "50M", "filter", thin, *many, "--grid", "-o", tmp_path / "g2.png"))
    assert "--grid with 61 panels" in line and "--max-memory 50M" in line


def test_filter_huge_kernel(capsys, tmp_path, image, traced):
    out = tmp_path / "o.png"
    one_line(cli(capsys, "filter", image, "-k", "box:1000000", "-o", out), "-k box:1000000", "TiB", "smaller kernel")
    one_line(cli(capsys, "filter", image, "-k", "gaussian:1e9", "-o", out), "-k gaussian:1e9")
    assert not out.exists()


def test_size_input(capsys, traced):
    one_line(cli(capsys, "size", "lenet5", "--input", "1,100000,100000"), "--input 1,100000,100000", "smaller --input")
    # the fix names --input, which `size` has (not --resize, which it has not)
    line = one_line(cli(capsys, "size", "lenet5", "--input", "1,10,10"), "--input 1,28,28")
    assert "--resize" not in line


def test_train_resize(capsys, tmp_path, traced):
    out = tmp_path / "run"
    line = one_line(cli(capsys, "train", "--resize", "100000", "--out", out, "--quiet"), "--resize 100000")
    assert "--batch-size" in line and not out.exists()


def test_experiment_canvas(capsys, tmp_path, traced):
    out = tmp_path / "exp"
    one_line(cli(capsys, "experiment", "invariance", "--canvas", "100000", "--out", out), "--canvas 100000")
    assert not out.exists()


def test_cnnlab_pixel_limit_comes_before_pillows(capsys, tmp_path, traced):
    big = tmp_path / "big.png"
    png_header(big, 9500, 9500)  # 90 M pixels: over Pillow's 89 M "bomb" warning, under cnnlab's 100 M
    out = tmp_path / "o.png"
    line = one_line(cli(capsys, "--max-memory", "1G", "filter", big, "-k", "blur", "-o", out), "9,500×9,500")
    assert "--max-memory 1G" in line and "not an image" not in line
    # within the memory limit it is decoded (and this header-only file is found truncated)
    line = one_line(cli(capsys, "--max-memory", "100G", "filter", big, "-k", "blur", "-o", out))
    assert "damaged or truncated" in line and "not an image" not in line
    png_header(big, 20000, 20000)
    one_line(cli(capsys, "filter", big, "-k", "blur", "-o", out), "20,000×20,000", "100,000,000-pixel limit")
    assert not out.exists()


# every command that sizes an allocation from what the user typed, with a request that is
# fine under the default limit: the fragment its refusal must name
SIZED_COMMANDS = {
    ("viz", "features", "lenet5", "--class", "3", "--steps", "1", "-o", "{tmp}/f.png"): "--scale 1 with --batch 1",
    ("viz", "examples", "{run}", "--layer", "C1", "--channel", "0", "-k", "9", "-o", "{tmp}/e.png"): "-k 9",
    ("filter", "{img}", "-k", "blur", "--grid", "-o", "{tmp}/g.png"): "image",
    ("filter", "{img}", "-k", "box:20", "-o", "{tmp}/b.png"): "-k box:20",
    ("size", "lenet5", "--input", "1,28,28"): "--input 1,28,28",
    ("train", "--resize", "32", "--out", "{tmp}/run", "--quiet"): "--resize 32",
    ("eval", "--model", "lenet5", "--dataset", "mnist", "--resize", "32"): "--resize 32",
    ("experiment", "invariance", "--canvas", "40", "--out", "{tmp}/exp"): "--canvas 40",
}


def test_max_memory_on_every_sized_command(capsys, tmp_path, tiny_run, image, monkeypatch):
    """`--max-memory 1k` after the command's name (or before it, every other command) refuses each
    request in one line naming the flag, before anything is loaded or written. (That the refusals
    allocate nothing is traced above, on requests of terabytes; tracing these too triples the time.)"""
    monkeypatch.setenv(limits.ENV, "100G")  # the flag wins over the variable
    for i, (args, fragment) in enumerate(SIZED_COMMANDS.items()):
        args = [a.format(tmp=tmp_path, run=tiny_run, img=image) for a in args]
        limit = ["--max-memory", "1k"]
        line = one_line(cli(capsys, *(args + limit if i % 2 else limit + args)), fragment, "(--max-memory 1k)")
        assert "raise the limit with --max-memory SIZE" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.png"]  # nothing written


def test_max_memory_is_in_every_sized_commands_help():
    from cnnlab.cli import app

    root = typer.main.get_command(app)
    for args in {a[:2] if a[0] in ("viz", "experiment") else a[:1] for a in SIZED_COMMANDS}:
        cmd = root
        for name in args:
            cmd = cmd.commands[name]  # type: ignore[attr-defined]
        option = next((p for p in cmd.params if "--max-memory" in p.opts), None)
        assert option is not None, args
        assert "$CNNLAB_MAX_MEMORY" in option.help and "half the memory available" in option.help
