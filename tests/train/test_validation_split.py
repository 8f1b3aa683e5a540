"""--validation N: a held-out part of the training set stands in for the test set (issue 19:
recipes are chosen on it, never on the test set)."""

from __future__ import annotations

import pytest
import torch

from cnnlab.data.memory import ImageTensors
from cnnlab.errors import CnnlabError
from cnnlab.runs.run import validation_split
from cnnlab.train.run import config_for, run_training


def numbered(n: int) -> ImageTensors:
    """n 1×2 images whose two pixels spell their index (high byte, low byte)."""
    index = torch.arange(n)
    images = torch.stack([index // 256, index % 256], 1).to(torch.uint8).view(n, 1, 1, 2)
    return ImageTensors(images, index % 10, (0.5,), (0.5,), [str(c) for c in range(10)])


def indices(part: ImageTensors) -> list[int]:
    pixels = part.images.view(-1, 2).long()
    return (pixels[:, 0] * 256 + pixels[:, 1]).tolist()


def test_the_split_is_a_fixed_disjoint_draw_in_the_original_order():
    rest, held = validation_split(numbered(1000), 200)
    a, b = indices(rest), indices(held)
    assert (len(a), len(b)) == (800, 200)
    assert sorted(a + b) == list(range(1000))  # every image in exactly one part
    assert a == sorted(a) and b == sorted(b)  # each part in the original order
    assert b != list(range(800, 1000))  # a random draw, not the last 200 ...
    assert 60 < sum(i < 500 for i in b) < 140  # ... spread over the whole set
    again_rest, again_held = validation_split(numbered(1000), 200)
    assert indices(again_held) == b and indices(again_rest) == a  # the same draw every time


@pytest.mark.parametrize("n", [1000, 5000])
def test_holding_out_every_image_is_refused(n):
    with pytest.raises(CnnlabError, match=r"--validation \d+ must leave training images.*1 to 999"):
        validation_split(numbered(1000), n)


def test_a_validation_run_is_evaluated_on_its_held_out_images(tmp_path):
    """The reported accuracy is the final weights' accuracy on the held-out training images."""
    from cnnlab.runs import Run
    from cnnlab.train.loop import evaluate

    cfg = config_for("mnist-race", epochs=1, validation=2000, train_subset=3000, device="cpu")
    summary = run_training(cfg, out=tmp_path / "run", quiet=True, echo=lambda s: None)
    assert summary["evaluated_on"] == "validation: 2,000 held-out training images"
    from cnnlab.train.run import load_data

    train, held = load_data(cfg, torch.device("cpu"), quiet=True)
    assert (len(train), len(held)) == (3000, 2000)
    model = Run.open(tmp_path / "run").model()
    assert evaluate(model, held, cfg)["accuracy"] == summary["test_accuracy"]


def test_the_flags_reach_the_run_and_eval_reads_the_test_set(tmp_path):
    """cnnlab train --validation --beta2 --no-cycle-momentum: the log says validation, the run
    records the flags, and cnnlab eval of the run reports on the 10,000 test images."""
    import json

    from tests.conftest import run_cli

    out = tmp_path / "run"
    r = run_cli(
        "train", "--model", "mnist-race", "--epochs", "1", "--train-subset", "1500", "--validation", "500",
        "--beta2", "0.95", "--no-cycle-momentum", "--momentum", "0.8", "--out", str(out),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "val acc" in r.stdout + r.stderr and "validation accuracy" in r.stdout + r.stderr
    stored = json.loads((out / "config.json").read_text())
    assert stored["config"]["validation"] == 500 and stored["config"]["beta2"] == 0.95
    assert stored["optimizer"]["beta1"] == 0.8 and stored["config"]["cycle_momentum"] is False
    r = run_cli("eval", str(out), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["total"] == 10000
