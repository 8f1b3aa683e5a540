"""Issue 14, item 6: `cnnlab filter` reads every image by its real range (1/8/16/32-bit
integers, floats), composites alpha over white, keeps gray+alpha gray, applies EXIF
orientation, applies kernels in command-line order and refuses non-finite results.
Each reading is compared with the values written, computed independently with numpy.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cnnlab.conv.image import filter_image, load_image
from cnnlab.conv.kernels import Kernel, get_kernel
from tests.hostile.inprocess import cli, one_line

RNG = np.random.default_rng(14)


def test_16_and_32_bit_and_float_images_by_their_real_range(tmp_path):
    u16 = RNG.integers(0, 65536, (6, 7)).astype(np.uint16)
    pgm = tmp_path / "a.pgm"  # 16-bit PGM: Pillow mode I
    pgm.write_bytes(b"P5\n7 6\n65535\n" + u16.astype(">u2").tobytes())
    assert Image.open(pgm).mode == "I"
    np.testing.assert_allclose(load_image(pgm), u16 * (255 / 65535), atol=1e-9)

    big = tmp_path / "b.tif"  # big-endian 16-bit TIFF: mode I;16B (came out RGB before)
    Image.fromarray(u16.astype(">u2")).save(big)
    assert Image.open(big).mode == "I;16B"
    got = load_image(big)
    assert got.ndim == 2
    np.testing.assert_allclose(got, u16 * (255 / 65535), atol=1e-9)

    i32 = RNG.integers(0, 2**31 - 1, (6, 7)).astype(np.int32)
    t32 = tmp_path / "c.tif"
    Image.fromarray(i32).save(t32)
    np.testing.assert_allclose(load_image(t32), i32 * (255 / (2**31 - 1)), rtol=1e-12)

    f = RNG.random((6, 7)).astype(np.float32)
    tf = tmp_path / "d.tif"  # float in 0-1: was black
    Image.fromarray(f).save(tf)
    np.testing.assert_allclose(load_image(tf), f.astype(np.float64) * 255, rtol=1e-6)

    one_bit = tmp_path / "e.png"
    Image.fromarray(np.array([[0, 1], [1, 0]], dtype=bool)).save(one_bit)
    np.testing.assert_array_equal(load_image(one_bit), [[0, 255], [255, 0]])


def test_alpha_over_white_and_gray_alpha_stays_gray(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255  # red everywhere ...
    rgba[:, 4:, 3] = 255  # ... visible only on the right half
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(path)
    got = load_image(path)
    np.testing.assert_array_equal(got[:, :4], np.full((8, 4, 3), 255.0))  # hidden red is white
    np.testing.assert_array_equal(got[:, 4:], np.broadcast_to([255.0, 0, 0], (8, 4, 3)))

    # uniform colour behind a transparency border: no edge inside the transparent part
    flat = np.zeros((8, 8, 4), np.uint8)
    flat[..., 3] = np.where(np.arange(8) < 4, 0, 255)[None, :]
    flat[..., :3] = 255  # white, half transparent: composited it is white everywhere
    Image.fromarray(flat, "RGBA").save(path)
    assert np.all(load_image(path) == 255)

    la = np.stack([RNG.integers(0, 256, (5, 6)), RNG.integers(0, 256, (5, 6))], -1).astype(np.uint8)
    lpath = tmp_path / "la.png"
    Image.fromarray(la, "LA").save(lpath)
    got = load_image(lpath)
    a = la[..., 1] / 255
    assert got.ndim == 2  # gray + alpha stays gray
    np.testing.assert_allclose(got, la[..., 0] * a + 255 * (1 - a), atol=1e-9)


def test_exif_orientation_is_applied(tmp_path):
    pixels = RNG.integers(0, 256, (4, 6), dtype=np.uint8)
    img = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / "phone.png"
    img.save(path, exif=exif)
    np.testing.assert_array_equal(load_image(path), np.rot90(pixels, -1))


def test_non_finite_pixels_and_results_are_refused(capsys, tmp_path):
    f = np.ones((5, 5), np.float32)
    f[2, 2] = np.nan
    path = tmp_path / "nan.tif"
    Image.fromarray(f).save(path)
    out = tmp_path / "o.png"
    one_line(cli(capsys, "filter", path, "-k", "blur", "-o", out), "NaN or infinite pixels")
    gray = tmp_path / "g.png"
    Image.fromarray(RNG.integers(0, 256, (9, 9), dtype=np.uint8)).save(gray)
    # sigma 1e-300 squares to 0: the kernel is 0/0 (an all-black image and numpy warnings before)
    line = one_line(cli(capsys, "filter", gray, "-k", "gaussian:1e-300", "-o", out), "gaussian:1e-300")
    assert "Warning" not in capsys.readouterr().err + line and not out.exists()


def test_kernels_apply_in_command_line_order(capsys, tmp_path):
    gray = tmp_path / "g.png"
    Image.fromarray(RNG.integers(0, 256, (12, 12), dtype=np.uint8)).save(gray)
    weights = np.array([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]])
    np.save(tmp_path / "edge.npy", weights)
    edge = Kernel("edge", weights, "", "signed")
    blur = get_kernel("blur")
    pixels = load_image(gray)
    for args, order in (
        (["--kernel-file", tmp_path / "edge.npy", "-k", "blur"], [edge, blur]),
        (["-k", "blur", "--kernel-file", tmp_path / "edge.npy"], [blur, edge]),
        (["-k", "blur", "--kernel-file", tmp_path / "edge.npy", "-k", "sharpen"], [blur, edge, get_kernel("sharpen")]),
    ):
        out = tmp_path / "o.png"
        assert cli(capsys, "filter", gray, *args, "-o", out).code == 0
        np.testing.assert_array_equal(np.asarray(Image.open(out)), filter_image(pixels, order))
    assert not np.array_equal(filter_image(pixels, [edge, blur]), filter_image(pixels, [blur, edge]))


def test_bad_kernels_are_one_line(capsys, tmp_path):
    gray = tmp_path / "g.png"
    Image.fromarray(RNG.integers(0, 256, (9, 9), dtype=np.uint8)).save(gray)
    out = tmp_path / "o.png"
    for spec in ("gaussian:nan", "gaussian:inf", "box:nan", "box:inf", "gaussian:-inf:5"):
        one_line(cli(capsys, "filter", gray, "-k", spec, "-o", out), f"-k {spec}", "finite")
    np.save(tmp_path / "s.npy", np.array([["a", "b"], ["c", "d"]]))
    one_line(cli(capsys, "filter", gray, "--kernel-file", tmp_path / "s.npy", "-o", out), "s.npy", "not numbers")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    one_line(cli(capsys, "filter", gray, "--kernel-file", tmp_path / "obj.npy", "-o", out), "obj.npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    one_line(cli(capsys, "filter", gray, "--kernel-file", tmp_path / "junk.npy", "-o", out), "junk.npy")
    assert not out.exists()


@pytest.mark.parametrize("boundary", ["reflect"])
def test_a_one_pixel_image_with_blur(capsys, tmp_path, boundary):
    one = tmp_path / "one.png"
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(one)
    out = tmp_path / "o.png"
    one_line(cli(capsys, "filter", one, "-k", "blur", "--boundary", boundary, "-o", out), "1×1", "--boundary")
    assert cli(capsys, "filter", one, "-k", "blur", "--boundary", "replicate", "-o", out).code == 0
    assert np.asarray(Image.open(out)).shape == (1, 1)
