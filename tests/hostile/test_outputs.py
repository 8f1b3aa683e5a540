"""Issue 14, item 2: the output policy. `-o FILE` replaces only a regular file; a folder,
device, FIFO, missing folder or read-only target is one line; a symlink is written through
and stays a link; an experiment does not overwrite earlier results without --force, and
refuses a bad --out before it trains anything.
"""

from __future__ import annotations

import errno
import os
import stat

import numpy as np
import pytest
from PIL import Image

from cnnlab import atomic, outputs
from cnnlab.errors import OutputError
from tests.hostile.inprocess import cli, one_line


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 30), dtype=np.uint8)).save(path)
    return path


def test_policy_for_every_kind_of_target(tmp_path):
    regular = tmp_path / "a.png"
    regular.write_bytes(b"old")
    assert outputs.output_file(regular) == regular
    assert outputs.output_file(tmp_path / "new.png") == tmp_path / "new.png"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    readonly = tmp_path / "ro.png"
    readonly.write_bytes(b"mine")
    readonly.chmod(0o444)
    rodir = tmp_path / "rodir"
    rodir.mkdir()
    rodir.chmod(0o555)
    cases = {
        tmp_path: "is a folder",
        "/dev/null": "is a device, not a regular file",
        fifo: "is a FIFO",
        tmp_path / "missing" / "x.png": "folder " + str(tmp_path / "missing") + " does not exist",
        regular / "x.png": "is a file, not a folder",
        readonly: "is read-only",
        rodir / "x.png": "is read-only",
    }
    for target, message in cases.items():
        with pytest.raises(OutputError, match=message.replace("(", r"\(")):
            outputs.output_file(target, "-o")
    assert readonly.read_bytes() == b"mine" and stat.S_ISFIFO(fifo.stat().st_mode)


def test_atomic_writes_through_a_symlink_and_refuses_devices(tmp_path, monkeypatch):
    target = tmp_path / "real.txt"
    target.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    atomic.write_text(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(target) and target.read_text() == "new"
    dangling = tmp_path / "dangling.txt"
    dangling.symlink_to(tmp_path / "made.txt")
    atomic.write_text(dangling, "made")
    assert dangling.is_symlink() and (tmp_path / "made.txt").read_text() == "made"
    with pytest.raises(OutputError, match="is a device"):
        atomic.write_text("/dev/null", "x")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)

    def read_only_fs(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", read_only_fs)
    with pytest.raises(OutputError, match=r"cannot write .* \(Read-only file system\)"):
        atomic.write_text(tmp_path / "b.txt", "x")


def test_filter_output(capsys, tmp_path, image):
    target = tmp_path / "real.png"
    target.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(target)
    assert cli(capsys, "filter", image, "-k", "blur", "-o", link).code == 0
    assert link.is_symlink() and target.read_bytes()[:4] == b"\x89PNG"
    one_line(cli(capsys, "filter", image, "-k", "blur", "-o", "/dev/null"), "-o /dev/null is a device")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    one_line(cli(capsys, "filter", image, "-k", "blur", "-o", fifo), "is a FIFO")
    one_line(cli(capsys, "filter", image, "-k", "blur", "-o", tmp_path), "is a folder")
    one_line(cli(capsys, "filter", image, "-k", "blur", "-o", tmp_path / "no" / "x.png"), "does not exist")
    readonly = tmp_path / "ro.png"
    readonly.write_bytes(b"mine")
    readonly.chmod(0o444)
    one_line(cli(capsys, "filter", image, "-k", "blur", "-o", readonly), "is read-only")
    assert readonly.read_bytes() == b"mine"


def test_size_outputs(capsys, tmp_path):
    one_line(cli(capsys, "size", "lenet5", "-o", tmp_path), "--out", "is a folder")
    one_line(cli(capsys, "size", "lenet5", "--plot", tmp_path / "no" / "p.png"), "--plot", "does not exist")
    assert list(tmp_path.iterdir()) == []


def test_viz_outputs(capsys, tmp_path):
    readonly = tmp_path / "ro.png"
    readonly.write_bytes(b"mine")
    readonly.chmod(0o444)
    one_line(cli(capsys, "viz", "filters", "lenet5", "-o", readonly), "-o", "is read-only")
    one_line(cli(capsys, "viz", "features", "lenet5", "--class", "1", "-o", tmp_path), "is a folder")
    afile = tmp_path / "afile"
    afile.write_text("mine")
    one_line(cli(capsys, "viz", "report", "somewhere", "-o", afile), "is a file, not a folder")
    assert readonly.read_bytes() == b"mine" and afile.read_text() == "mine"


def test_viz_report_refuses_bad_steps_before_writing(capsys, tmp_path, tiny_run):
    out = tmp_path / "report"
    one_line(cli(capsys, "viz", "report", tiny_run, "-o", out, "--steps", "-5"), "--steps must be at least 1")
    assert not out.exists()


def test_eval_confusion_output(capsys, tmp_path, tiny_run):
    one_line(cli(capsys, "eval", tiny_run, "--confusion", tmp_path), "--confusion", "is a folder")
    one_line(cli(capsys, "eval", tiny_run, "--confusion", "/dev/null"), "is a device")


def test_experiment_checks_out_before_training_and_needs_force(capsys, tmp_path, monkeypatch):
    from cnnlab.experiments import invariance

    def no_training(*a, **k):
        raise AssertionError("the experiment trained before checking --out")

    monkeypatch.setattr(invariance, "run", no_training)
    afile = tmp_path / "afile"
    afile.write_text("mine")
    one_line(cli(capsys, "experiment", "invariance", "--out", afile), "--out", "is a file, not a folder")
    done = tmp_path / "done"
    done.mkdir()
    (done / "results.json").write_text('{"mine": 1}')
    one_line(cli(capsys, "experiment", "invariance", "--out", done), "already holds results.json", "--force")
    assert (done / "results.json").read_text() == '{"mine": 1}' and afile.read_text() == "mine"

    rows = [
        {"model": m, "trained_on": s, "params": p, "train_seconds": 1.0, "test_registered": 0.9, "test_translated": 0.8}
        for m, p in (("fc-baseline", 100), ("lc-baseline", 1000), ("conv-baseline", 10))
        for s in ("registered", "translated")
    ]
    monkeypatch.setattr(invariance, "run", lambda cfg, log: {"config": {}, "rows": rows, "findings": ["x"]})
    assert cli(capsys, "experiment", "invariance", "--out", done, "--force").code == 0
    assert '"rows"' in (done / "results.json").read_text() and (done / "invariance.png").exists()
