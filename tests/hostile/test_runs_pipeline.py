"""Issue 14, item 5: the run records its input pipeline and every consumer uses it, so a run
trained with --resize works in eval, viz, size and serve; an older run folder still loads."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from cnnlab.runs import Run, resolve
from cnnlab.train.run import config_for, run_training
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def resized(tmp_path_factory):
    out = tmp_path_factory.mktemp("resize") / "run"
    cfg = config_for("mnist-fast", epochs=1, train_subset=512, test_subset=100, resize=32, device="cpu")
    run_training(cfg, out=out, quiet=True, echo=lambda s: None)
    return out


def test_the_pipeline_is_recorded_and_preprocess_matches_training(resized):
    run = Run.open(resized)
    p = run.pipeline
    assert (p.dataset, p.input_shape, p.resize, p.mean, p.std) == ("mnist", (1, 32, 32), 32, (0.1307,), (0.3081,))
    assert p.classes == tuple("0123456789") and run.notes == []
    _, test = run.data()
    x, _ = next(test.batches(8))  # what training and evaluation fed the model
    assert torch.equal(run.preprocess(test.images[:8]), x)
    # float images in [0, 1] (a drawing on the page) land within float error of the same input
    assert torch.allclose(run.preprocess(test.images[:8].float() / 255), x, atol=1e-5)
    assert run.optimizer["beta1"]["cycled_by"] == "OneCycleLR"  # what really ran, not cfg.momentum


def test_eval_uses_the_run_pipeline(resized):
    proc = run_cli("eval", str(resized), "--json", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    summary = json.loads((resized / "summary.json").read_text())
    assert r["total"] == 100 and r["test_accuracy"] == summary["test_accuracy"]


def test_viz_saliency_and_examples_work_on_a_resized_run(resized, tmp_path):
    sal = run_cli("viz", "saliency", str(resized), "-o", str(tmp_path / "s.png"), "--smoothgrad", "2")
    assert sal.returncode == 0, sal.stderr
    ex = run_cli(
        "viz", "examples", str(resized), "--layer", "conv1", "--channel", "0", "-k", "3", "-o", str(tmp_path / "e.png")
    )
    assert ex.returncode == 0, ex.stderr
    for name in ("s.png", "e.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_size_uses_the_run_input(resized):
    proc = run_cli("size", str(resized), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["input_shape"][-2:] == [32, 32]


def test_serve_predicts_on_a_resized_run(resized):
    from cnnlab.serve.inspector import Inspector

    inspector = Inspector(resized)
    run = Run.open(resized)
    digit = run.data()[1].images[0, 0].numpy() / 255.0  # a 28×28 test digit, as the page sends it
    logits = inspector.forward(digit.astype(np.float32)).logits
    with torch.no_grad():
        expected = run.model()(run.preprocess(run.data()[1].images[:1]))
    assert logits.shape == (1, 10) and torch.allclose(logits, expected, atol=1e-4)


def test_an_older_run_without_a_pipeline_still_loads_with_a_note(resized, tmp_path, capsys):
    old = tmp_path / "old"
    shutil.copytree(resized, old)
    record = json.loads((old / "config.json").read_text())
    for key in ("pipeline", "optimizer", "versions", "format"):
        record.pop(key)
    (old / "config.json").write_text(json.dumps(record))
    run = Run.open(old)
    assert run.pipeline == Run.open(resized).pipeline  # derived from the dataset and --resize as stored
    assert len(run.notes) == 1 and "did not record its input pipeline" in run.notes[0]
    assert "cnnlab: note:" in capsys.readouterr().err
    assert resolve(str(old)).input_shape == (1, 32, 32)


def test_viz_report_works_on_a_resized_run(tmp_path):
    # LeNet-5 (22 conv channels), not the module's mnist-fast: the report draws three PNGs per
    # channel, and mnist-fast's channels made this test take minutes
    run = tmp_path / "lenet"
    cfg = config_for("lenet5", epochs=1, train_subset=256, test_subset=100, resize=32, device="cpu")
    run_training(cfg, out=run, quiet=True, echo=lambda s: None)
    proc = run_cli("viz", "report", str(run), "-o", str(tmp_path / "r"), "--steps", "4", "--quiet")
    assert proc.returncode == 0, proc.stderr
    from PIL import Image

    # the model saw 32×32 images: the optimized images are 32×32, and the dataset examples too
    pair = Image.open(tmp_path / "r" / "unit_C1_0.png")
    assert pair.size[0] > pair.size[1] and (tmp_path / "r" / "index.html").is_file()


def test_an_image_folder_pipeline_crops_like_its_eval_transform_and_keeps_a_cropped_image():
    """A photo of any size is resized and centre-cropped as the run's evaluation transform does
    (torchvision's Resize(size / 0.875) + CenterCrop); an image already at the model's size,
    such as the page's test image, is taken as cropped and only normalized."""
    from cnnlab.data.imagefolder import build_transform
    from cnnlab.runs import Pipeline

    p = Pipeline.for_dataset("imagefolder", (3, 32, 32), resize=32)
    photo = torch.randint(0, 256, (1, 3, 50, 70), dtype=torch.uint8)
    expected = build_transform(False, 32, p.mean, p.std)(photo[0])
    torch.testing.assert_close(p.preprocess(photo)[0], expected, atol=1e-5, rtol=0)
    cropped = torch.rand(1, 3, 32, 32)
    mean, std = torch.tensor(p.mean).view(3, 1, 1), torch.tensor(p.std).view(3, 1, 1)
    torch.testing.assert_close(p.preprocess(cropped)[0], (cropped[0] - mean) / std)
