"""Results that show themselves in a notebook (issue 18): every repr is a real picture or
table, checked against numbers computed here independently, and pictures are saved without
replacing anything."""

from __future__ import annotations

import base64
import io
import json
import math
import re
import sys
from html.parser import HTMLParser

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import cnnlab
from cnnlab import display
from cnnlab.data.memory import ImageTensors
from cnnlab.errors import CnnlabError, OutputError
from cnnlab.models import create
from cnnlab.size import analyze

RED = display.BOX


def decode(png: bytes) -> Image.Image:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    img = Image.open(io.BytesIO(png))
    img.load()
    assert img.format == "PNG" and img.mode in ("RGB", "RGBA", "L")  # RGBA: matplotlib's
    return img.convert("RGB")


def tiny_data(n: int = 24, seed: int = 0) -> ImageTensors:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    return ImageTensors(images, torch.arange(n) % 10, (0.5,), (0.25,), tuple(str(i) for i in range(10)), "tiny")


# -- show() and Picture -------------------------------------------------------------------
def test_a_digit_is_enlarged_by_nearest_neighbour():
    x = np.zeros((28, 28))
    x[3, 5] = 1.0
    img = decode(cnnlab.show(x)._repr_png_())
    assert img.size == (28 * 4 + 2 * display.GAP,) * 2  # 4×: at least MIN_TILE = 112 px
    px = np.asarray(img)
    g = display.GAP
    block = px[g + 3 * 4 : g + 4 * 4, g + 5 * 4 : g + 6 * 4]  # the one white pixel: a crisp 4×4 block
    assert (block == 255).all()
    tile = px[g : g + 112, g : g + 112]
    assert (tile == 255).all(-1).sum() == 16  # nothing blurred around it


def test_values_become_colours_by_the_documented_rules():
    u8 = np.array([[0, 128, 255]], dtype=np.uint8)
    assert (display.to_rgb(u8)[..., 0] == u8).all()  # uint8 as stored
    assert (display.to_rgb(u8.astype(float) / 255)[..., 0] == u8).all()  # [0, 1] floats as grey levels
    big = np.array([[0.0, 500.0, 1000.0]])  # beyond 1: scaled by the largest, 0 stays black
    assert display.to_rgb(big)[0, :, 0].tolist() == [0, 128, 255]
    assert display.to_rgb(np.array([[True, False]]))[0, :, 0].tolist() == [255, 0]
    nan = display.to_rgb(np.array([[0.5, np.nan]]))
    assert tuple(nan[0, 1]) == display.MISSING


def test_the_diverging_map_is_matplotlibs_rdbu_r():
    colormaps = pytest.importorskip("matplotlib").colormaps
    unit = np.arange(256) / 255  # matplotlib's map is a table of 256 colours sampled at these points
    ours = display.diverging_rgb(unit)
    theirs = colormaps[display.DIVERGING](unit)[:, :3]
    assert np.abs(ours - theirs).max() < 1e-6


def test_signed_maps_are_symmetric_about_white_with_a_colour_bar():
    x = np.array([[-2.0, 0.0, 1.0]])
    rgb = display.to_rgb(x)
    ends = np.rint(display.diverging_rgb(np.array([0.0, 0.5, 0.75])) * 255)
    assert np.abs(rgb[0].astype(int) - ends).max() <= 1  # -2 -> blue end, 0 -> white, +1 -> 3/4
    plain = decode(cnnlab.show(np.abs(x)).png())
    signed = decode(cnnlab.show(x).png())
    assert signed.height > plain.height  # the colour bar below


def test_a_large_signed_map_is_not_washed_out_by_a_few_extremes():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(100, 100))
    x[0, 0] = 1000.0  # one extreme value
    peak = display.value_range(x, signed=True)
    assert peak == pytest.approx(np.percentile(np.abs(x), display.ROBUST_PERCENTILE))
    assert display.value_range(x[:10, :10], signed=True) == 1000.0  # small maps: the largest


@pytest.mark.parametrize(
    ("shape", "tiles"),
    [((28, 28), 1), ((28, 28, 3), 1), ((3, 28, 28), 1), ((5, 28, 28), 5), ((6, 1, 28, 28), 6), ((2, 3, 28, 28), 2)],
)
def test_arrays_of_every_layout_are_split_into_their_images(shape, tiles):
    x = np.random.default_rng(0).random(shape)
    img = decode(cnnlab.show(x, cols=tiles).png())
    assert img.size == (tiles * 112 + (tiles + 1) * display.GAP, 112 + 2 * display.GAP)


def test_torch_tensors_and_lists_are_shown_and_labels_must_match():
    t = torch.rand(2, 1, 28, 28)
    assert decode(cnnlab.show(t).png()).size == decode(cnnlab.show(t.numpy()).png()).size
    with pytest.raises(CnnlabError, match="one label per image"):
        cnnlab.show([np.zeros((4, 4))], labels=["a", "b"])
    with pytest.raises(CnnlabError, match="cannot show an array of shape"):
        cnnlab.show(np.zeros((2, 2, 2, 2, 2)))


def test_a_large_image_is_reduced_and_a_huge_request_refused():
    from cnnlab.errors import ResourceError

    photo = np.tile(np.linspace(0, 1, 3000), (1000, 1))  # a smooth ramp: cheap to encode
    img = decode(cnnlab.show(photo).png())
    assert img.width <= display.MAX_WIDTH + 2 * display.GAP and img.width == 3000 // 3 + 2 * display.GAP
    with pytest.raises(ResourceError, match="use a smaller scale"):
        cnnlab.show(np.eye(28), scale=1000)  # a 28,000 px square: refused before any pixel is made


def test_small_arrays_get_their_values_written_in_cells():
    from cnnlab.conv import convolve

    y = convolve([2, -1, 1], [1, 1, 2])  # the lecture's 1-D example: [2, 1, 4, -1, 2]
    img = np.asarray(decode(cnnlab.show(y, scale=display.CELL).png()))
    g = display.GAP
    cells = img[g : g + display.CELL, g : g + 5 * display.CELL]
    assert cells.shape[:2] == (display.CELL, 5 * display.CELL)
    # each cell holds its colour and some text (dark or light pixels of another colour)
    for j in range(5):
        cell = cells[2:-2, j * display.CELL + 2 : (j + 1) * display.CELL - 2].reshape(-1, 3)
        assert len(np.unique(cell, axis=0)) > 2, j


def test_save_never_replaces_a_file_unasked(tmp_path):
    p = cnnlab.show(np.eye(8))
    path = tmp_path / "eye.png"
    path.write_bytes(b"mine")
    with pytest.raises(OutputError, match="exists and is kept; pass overwrite=True"):
        p.save(path)
    assert path.read_bytes() == b"mine"
    link = tmp_path / "link.png"
    link.symlink_to(path)
    with pytest.raises(OutputError):
        p.save(link)
    assert path.read_bytes() == b"mine" and link.is_symlink()
    p.save(path, overwrite=True)
    assert decode(path.read_bytes()).size == p.size
    with pytest.raises(OutputError, match="does not exist"):
        p.save(tmp_path / "missing" / "eye.png")
    with pytest.raises(OutputError, match="is a folder"):
        p.save(tmp_path)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["eye.png", "link.png"]  # no temporary left


class _Recorder:
    """A meta-path finder that notes every import of the watched packages (and finds nothing,
    so the import goes on as usual)."""

    def __init__(self, *watched: str) -> None:
        self.watched, self.seen = watched, []

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.watched or name in self.watched:
            self.seen.append(name)
        return None


def test_importing_cnnlab_loads_neither_ipython_nor_matplotlib(monkeypatch):
    import importlib

    # in this process, without a subprocess: hide cnnlab, IPython and matplotlib from the
    # module cache (monkeypatch puts them back), import cnnlab afresh and note what it loads
    old = {k: v for k, v in sys.modules.items() if k.split(".")[0] in ("cnnlab", "IPython", "matplotlib")}
    for k in old:
        monkeypatch.delitem(sys.modules, k)
    recorder = _Recorder("IPython", "matplotlib")
    sys.meta_path.insert(0, recorder)
    try:
        for name in ("cnnlab", "cnnlab.size", "cnnlab.viz", "cnnlab.runs", "cnnlab.conv", "cnnlab.display"):
            importlib.import_module(name)
        fresh = sys.modules["cnnlab"]
        fresh.show(np.eye(4)).png()
        assert recorder.seen == [], recorder.seen  # nothing at import time, nor to show an array
        recorder.watched = ("IPython", "matplotlib.pyplot")
        sys.modules.update({k: v for k, v in old.items() if k.startswith("matplotlib") and "pyplot" not in k})
        sys.modules["cnnlab.viz"].filter_grid(create("lenet5"), (1, 28, 28)).png()  # matplotlib, no pyplot
        assert recorder.seen == [], recorder.seen  # a notebook's own backend is left alone
    finally:
        sys.meta_path.remove(recorder)
        for k in [k for k in sys.modules if k.split(".")[0] in ("cnnlab", "IPython")]:
            del sys.modules[k]  # the fresh copies go; monkeypatch restores the originals
        # (matplotlib's modules are the originals again since phase 2; any it loaded since
        # belong to them and stay)


# -- the size report -------------------------------------------------------------------------
class _Table(HTMLParser):
    """Rows of cells (text, attributes, bold) of an HTML table."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[tuple[str, dict, bool]]] = []
        self._cell: list | None = None
        self._bold = False

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = ["", dict(attrs)]
            self._bold = "bold" in dict(attrs).get("style", "")
        elif tag == "strong":
            self._bold = True

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append((self._cell[0], self._cell[1], self._bold))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[0] += data


def small_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 5))


def test_the_html_table_holds_every_layer_and_the_true_totals():
    model = small_net()
    report = analyze(model, (1, 8, 8), name="small")
    table = _Table()
    table.feed(report._repr_html_())
    header, *rows, total = table.rows
    assert [c[0] for c in header] == ["layer", "type", "output", "units", "weights", "connections", "MACs"] + [
        "param bytes",
        "train act. bytes",
        "live at inference",
    ]
    assert [r[0][0] for r in rows] == [r["name"] for r in report.layers] == ["0", "2", "4"]
    # computed here: conv 4×6×6 units, each 3·3 inputs + a bias; pool 4×3×3 units of 2×2;
    # linear 36 -> 5 with biases
    units = 4 * 6 * 6 + 4 * 3 * 3 + 5
    weights = sum(p.numel() for p in model.parameters())
    connections = 4 * 6 * 6 * (9 + 1) + 4 * 3 * 3 * 4 + (36 * 5 + 5)
    cells = {h[0]: c for h, c in zip(header, total)}
    assert cells["units"][0] == f"{units:,}" and cells["weights"][0] == f"{weights:,}"
    assert cells["connections"][0] == f"{connections:,}" == "1,769"
    assert all(c[2] for c in total if c[0])  # the totals row is bold
    assert cells["units"][1].get("align") == "right" and "text-align:right" in cells["units"][1]["style"]
    assert cells["layer"][1].get("align") is None  # names stay left-aligned
    rules = report._repr_html_().split("</table>")[1]
    assert "rules of thumb" in rules and "% of the weights" in rules


def test_thousands_separators_and_a_short_repr_for_a_big_model():
    model = create("alexnet")
    report = analyze(model, (3, 224, 224))
    html = report._repr_html_()
    total = sum(p.numel() for p in model.parameters())
    assert f"<strong>{total:,}</strong>" in html
    assert str(report) == report.to_table()
    r = repr(report)
    assert "\n" not in r and len(r) < 200 and f"{total:,} weights" in r and "AlexNet" in r
    assert not any(f" {layer['name']}," in r for layer in report.layers)  # not a dump of the layers


def test_the_size_plot_is_a_picture():
    pytest.importorskip("matplotlib")
    img = decode(analyze(create("lenet5"), (1, 28, 28)).plot().png())
    assert img.width > 600 and img.height > 400


# -- viz results ---------------------------------------------------------------------------
def test_a_render_result_shows_a_column_per_snapshot():
    from cnnlab.viz import RenderConfig, objectives, render

    result = render(
        create("lenet5"),
        objectives.channel("C1", 0),
        (1, 28, 28),
        (0.5,),
        (0.25,),
        RenderConfig(steps=4, snapshots=(0, 2, 4)),
    )
    img = decode(result._repr_png_())
    assert img.width >= 3 * 112 and img.height >= 112
    r = repr(result)
    assert "steps 0, 2, 4" in r and "array" not in r and len(r) < 200


def test_top_examples_show_their_images_with_the_field_outlined():
    from cnnlab.viz import top_examples

    model = create("lenet5").eval()
    data = tiny_data()
    top = top_examples(model, data, "C3", 1, k=4)
    assert len(top.images) == 4 and torch.equal(top.images[0], data.pixels(top.indices[0]))
    px = np.asarray(decode(top._repr_png_()))
    assert px.shape[1] >= 4 * 112
    assert (px == RED).all(-1).sum() > 4 * 4 * 20  # four red outlines, 2 px wide
    with pytest.raises(CnnlabError, match="kept no images"):
        top.__class__(top.layer, top.channel, top.indices, top.values, None, None).picture()


def test_filter_grid_and_saliency_panel_are_pictures():
    pytest.importorskip("matplotlib")
    from cnnlab.viz import filter_grid, saliency_panel

    model = create("lenet5").eval()
    grid = filter_grid(model, (1, 28, 28))
    assert "C1" in grid.caption and decode(grid.png()).width > 200
    colours = np.asarray(decode(grid.png())).reshape(-1, 3)
    assert ((colours[:, 0] > 150) & (colours[:, 2] < 100)).any()  # red (positive) weights drawn
    panel = saliency_panel(model, tiny_data(), 0, smooth=2)
    img = decode(panel.png())
    assert img.width >= 3 * 112 and "predicted" in panel.caption


# -- a run ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A LeNet-5 run: one epoch on 200 MNIST digits (a second or two)."""
    from cnnlab.train.run import config_for, run_training

    out = tmp_path_factory.mktemp("display") / "run"
    run_training(
        config_for("lenet5", epochs=1, train_subset=200, test_subset=100, device="cpu"),
        out=out,
        quiet=True,
        echo=lambda s: None,
    )
    return out


def test_a_run_shows_a_short_summary_with_its_curves(tiny_run):
    from cnnlab.runs import Run

    run = Run.open(tiny_run)
    summary = json.loads((tiny_run / "summary.json").read_text())
    acc = f"{100 * summary['test_accuracy']:.2f}%"
    r = repr(run)
    assert "lenet5 on mnist" in r and acc in r and "\n" not in r
    html = run._repr_html_()
    for text in ("lenet5", "mnist (200 training images)", acc, f"{summary['train_seconds']:,.1f} s", "finished"):
        assert text in html, text
    (png,) = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    curves = decode(base64.b64decode(png))
    assert curves.size == Image.open(tiny_run / "curves.png").size
    assert run.curves().size == curves.size


def test_the_curves_are_a_picture_too():
    pytest.importorskip("matplotlib")
    from cnnlab.train.plot import curves_figure

    rows = [{"epoch": e, "train_loss": 1 / e, "test_loss": 1 / e, "test_accuracy": 0.9 + e / 100} for e in (1, 2)]
    img = decode(curves_figure(rows, "two epochs").png())
    assert img.size == (1100, 440)  # 10 × 4 inches at 110 dpi, as curves.png
    assert math.isclose(img.width / img.height, 2.5)


# -- figures that were only files ------------------------------------------------------------
def test_every_file_figure_is_also_a_picture():
    pytest.importorskip("matplotlib")
    from cnnlab.conv.image import grid_figure
    from cnnlab.conv.kernels import KERNELS
    from cnnlab.experiments.invariance import figure as invariance_figure
    from cnnlab.train.evaluation import confusion_figure

    ramp = np.tile(np.linspace(0, 255, 32), (32, 1))
    grid = decode(grid_figure(ramp, [KERNELS["sobel-x"], KERNELS["blur"]]).png())
    assert grid.width > grid.height > 200  # three panels in a row
    confusion = decode(confusion_figure([[5, 1], [0, 6]], ("cat", "dog"), "two classes").png())
    assert confusion.width > 300
    rows = [
        {"model": m, "trained_on": t, "test_registered": 0.9, "test_translated": 0.5}
        for m in ("fc-baseline", "conv-baseline")
        for t in ("registered", "translated")
    ]
    bars = decode(invariance_figure({"rows": rows}).png())
    assert bars.size == (1100, 495)  # 10 × 4.5 inches at 110 dpi, as the experiment's PNG


def test_examples_beside_the_optimized_image():
    pytest.importorskip("matplotlib")
    from cnnlab.viz import RenderConfig, objectives, render, top_examples

    model = create("lenet5").eval()
    top = top_examples(model, tiny_data(), "C3", 0, k=9)
    result = render(model, objectives.channel("C3", 0), (1, 28, 28), (0.5,), (0.25,), RenderConfig(steps=2))
    pair = top.beside(result)
    assert pair.caption == "C3 channel 0" and decode(pair.png()).size == (600, 330)
