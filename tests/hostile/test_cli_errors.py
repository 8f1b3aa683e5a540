"""Issue 14: user mistakes that used to end in "internal error ... a bug in cnnlab" (exit 1)
are one clear line, exit 2, and leave nothing behind."""

from __future__ import annotations

import urllib.error

import numpy as np
from PIL import Image

from tests.hostile.inprocess import cli, one_line

HUGE_SEED = "18446744073709551617"  # 2^64 + 1: torch.manual_seed overflowed on it


def test_seed_out_of_range(capsys, tmp_path):
    one_line(cli(capsys, "train", "--seed", HUGE_SEED, "--out", tmp_path / "r"), "--seed", "9223372036854775807")
    one_line(cli(capsys, "train", "--seed", "-1", "--out", tmp_path / "r"), "--seed")
    args = ("viz", "features", "lenet5", "--class", "1", "-o", tmp_path / "x.png", "--seed", HUGE_SEED)
    one_line(cli(capsys, *args), "--seed must be between 0 and")
    one_line(cli(capsys, "experiment", "invariance", "--seed", HUGE_SEED, "--out", tmp_path / "e"), "--seed")
    assert list(tmp_path.iterdir()) == []


def test_viz_features_lr_and_batch(capsys, tmp_path):
    args = ("viz", "features", "lenet5", "--class", "1", "--steps", "2", "-o", tmp_path / "x.png")
    for lr in ("nan", "-1", "inf", "0"):
        one_line(cli(capsys, *args, "--lr", lr), "--lr must be a finite number above 0")
    for batch in ("0", "-2"):
        one_line(cli(capsys, *args, "--batch", batch), f"--batch must be at least 1, got {batch}")
    one_line(cli(capsys, *args, "--tv", "nan"), "--tv must be a finite number")
    assert list(tmp_path.iterdir()) == []


def test_pretrained_weights_on_a_model_without_them(capsys, tmp_path):
    line = one_line(cli(capsys, "viz", "filters", "lenet5", "--weights", "DEFAULT", "-o", tmp_path / "x.png"))
    assert "lenet5 has no pretrained weights" in line and "resnet18" in line
    one_line(
        cli(capsys, "eval", "--model", "lenet5", "--weights", "DEFAULT", "--dataset", "mnist"), "no pretrained weights"
    )


def test_pretrained_weights_offline(capsys, tmp_path, monkeypatch):
    import torchvision.models._api as api

    def offline(*a, **k):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(api, "load_state_dict_from_url", offline)
    line = one_line(cli(capsys, "viz", "filters", "resnet18", "--weights", "DEFAULT", "-o", tmp_path / "x.png"))
    assert "cannot download the pretrained resnet18 weights" in line and "Name or service not known" in line
    assert not (tmp_path / "x.png").exists()


def test_image_folder_with_a_text_file_named_png(capsys, tmp_path):
    for split in ("train", "val"):
        for c in ("a", "b"):
            (tmp_path / "data" / split / c).mkdir(parents=True)
            for i in range(2):
                Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(tmp_path / "data" / split / c / f"{i}.png")
    bad = tmp_path / "data" / "train" / "a" / "notes.png"
    bad.write_text("this is not an image")
    for workers in ("0", "1"):  # in the process, and from a DataLoader worker (whose traceback was flattened in)
        out = tmp_path / f"run{workers}"
        args = ["train", "--dataset", "imagefolder", "--data-dir", tmp_path / "data", "--model", "mnist-fast"]
        args += ["--resize", "16", "--epochs", "1", "--workers", workers, "--quiet", "--device", "cpu", "--out", out]
        line = one_line(cli(capsys, *args), "notes.png is not a readable image", "remove or replace it")
        assert "worker" not in line and "Original Traceback" not in line
