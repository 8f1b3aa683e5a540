"""The kernel library, image files, and `cnnlab filter`."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
from PIL import Image

from cnnlab.conv.image import filter_image, load_image, to_display
from cnnlab.conv.kernels import KERNELS, gaussian, get_kernel, load_kernel_file
from cnnlab.errors import CnnlabError
from tests.conftest import assert_one_line_error, run_cli


def test_every_kernel_has_a_description_and_a_display_rule():
    assert len(KERNELS) >= 12
    for k in KERNELS.values():
        assert k.description and k.display in ("normalize", "signed")
        assert (k.display == "signed") == (abs(k.weights.sum()) < 1e-12)


def test_gaussian():
    g = gaussian(2.0)
    assert g.shape == (13, 13) and abs(g.sum() - 1) < 1e-12
    np.testing.assert_allclose(g, g.T)
    np.testing.assert_allclose(g, g[::-1, ::-1])
    assert get_kernel("gaussian:1.5:5").weights.shape == (5, 5)
    assert get_kernel("box:5").weights.shape == (5, 5)


def test_kernel_errors():
    with pytest.raises(CnnlabError, match="unknown kernel 'blurr'"):
        get_kernel("blurr")
    with pytest.raises(CnnlabError, match="bad kernel parameters"):
        get_kernel("gaussian:wide")
    with pytest.raises(CnnlabError, match="takes no parameters"):
        get_kernel("sobel-x:3")


def test_kernel_files(tmp_path):
    (tmp_path / "k.txt").write_text("1 2 1\n0 0 0\n-1 -2 -1\n")
    np.testing.assert_array_equal(load_kernel_file(str(tmp_path / "k.txt")).weights, KERNELS["sobel-y"].weights)
    (tmp_path / "c.csv").write_text("1,1\n1,1\n")
    assert load_kernel_file(str(tmp_path / "c.csv")).display == "normalize"
    np.save(tmp_path / "k.npy", np.eye(3))
    assert load_kernel_file(str(tmp_path / "k.npy")).shape == (3, 3)
    (tmp_path / "bad.txt").write_text("1 2\nthree 4\n")
    with pytest.raises(CnnlabError, match="is not a numeric matrix"):
        load_kernel_file(str(tmp_path / "bad.txt"))


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    rgb = (rng.random((40, 50, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "gray.png")
    Image.fromarray(np.dstack([rgb, np.full((40, 50), 128, np.uint8)])).save(tmp_path / "rgba.png")
    Image.fromarray(rgb).convert("P").save(tmp_path / "pal.png")
    return tmp_path, rgb


def test_load_image_modes(photo):
    d, rgb = photo
    assert load_image(d / "gray.png").shape == (40, 50)
    np.testing.assert_array_equal(load_image(d / "rgb.png"), rgb)
    np.testing.assert_allclose(load_image(d / "rgba.png"), rgb * (128 / 255) + 255 * (1 - 128 / 255))  # over white
    assert load_image(d / "pal.png").shape == (40, 50, 3)


def test_bad_images(photo, tmp_path):
    d, _ = photo
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(CnnlabError, match="cannot read .*junk.png as an image"):
        load_image(tmp_path / "junk.png")
    (tmp_path / "cut.png").write_bytes((d / "rgb.png").read_bytes()[:200])
    with pytest.raises(CnnlabError, match="cut.png"):
        load_image(tmp_path / "cut.png")
    with pytest.raises(CnnlabError, match="over cnnlab's 1,000-pixel limit; resize it first"):
        load_image(d / "rgb.png", max_pixels=1000)
    with pytest.raises(CnnlabError, match="not found"):
        load_image(tmp_path / "nope.png")


def test_filtering_matches_scipy_per_channel(photo):
    d, rgb = photo
    image = load_image(d / "rgb.png")
    k = KERNELS["blur"]
    out = filter_image(image, [k])
    ref = np.stack([scipy.ndimage.convolve(image[..., c], k.weights, mode="mirror") for c in range(3)], -1) / 8
    np.testing.assert_array_equal(out, np.clip(np.rint(ref), 0, 255).astype(np.uint8))


def test_display_rules():
    flat = np.full((10, 10), 77.0)
    assert (filter_image(flat, [KERNELS["blur"]]) == 77).all()  # normalized: flat stays flat
    assert (filter_image(flat, [KERNELS["laplacian"]]) == 128).all()  # signed: zero is mid-grey
    ramp = np.tile(np.arange(10.0) * 20, (10, 1))
    edges = to_display(np.array([[-5.0, 0.0, 5.0]]), KERNELS["sobel-x"])
    assert edges.tolist() == [[1, 128, 255]]
    assert filter_image(ramp, [KERNELS["sobel-x"]]).std() >= 0


def test_cli_grid_and_pipeline(photo):
    d, _ = photo
    proc = run_cli(
        "filter",
        str(d / "rgb.png"),
        "-k",
        "blur",
        "-k",
        "sharpen",
        "-k",
        "laplacian",
        "-k",
        "sobel-x",
        "--grid",
        "-o",
        str(d / "grid.png"),
    )
    assert proc.returncode == 0, proc.stderr
    assert Image.open(d / "grid.png").size[0] > 500
    proc = run_cli("filter", str(d / "gray.png"), "-k", "gaussian:2", "-k", "laplacian", "-o", str(d / "log.png"))
    assert proc.returncode == 0, proc.stderr
    assert Image.open(d / "log.png").size == (50, 40)
    listing = run_cli("filter", "--list")
    assert listing.returncode == 0 and "[lecture]" in listing.stdout and "sobel-x" in listing.stdout


def test_cli_errors(photo, tmp_path):
    d, _ = photo
    assert_one_line_error(
        run_cli("filter", str(d / "rgb.png"), "-k", "nope", "-o", str(tmp_path / "o.png")), "unknown kernel 'nope'"
    )
    (tmp_path / "junk.jpg").write_bytes(b"junk")
    assert_one_line_error(
        run_cli("filter", str(tmp_path / "junk.jpg"), "-k", "blur", "-o", str(tmp_path / "o.png")), "cannot read"
    )
    assert_one_line_error(run_cli("filter", str(d / "rgb.png"), "-o", str(tmp_path / "o.png")), "at least one --kernel")
