"""A layer followed by ReLU(inplace=True) (mnist-fast, mnist-race): the page's unit panel gives
the layer's own output, and its activation is what the next layer reads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnlab.serve.inspector import Inspector
from cnnlab.train.run import config_for, run_training


@pytest.fixture(scope="module")
def race_inspector(tmp_path_factory):
    out = tmp_path_factory.mktemp("race") / "run"
    cfg = config_for("mnist-race", epochs=1, train_subset=2000, test_subset=500, device="cpu")
    run_training(cfg, out=out, quiet=True, echo=lambda s: None)
    return Inspector(out)


def test_batch_norm_unit_shows_its_own_output_before_the_relu(race_inspector):
    ins = race_inspector
    rng = np.random.default_rng(0)
    img = rng.random((28, 28), dtype=np.float32)
    model = ins.model
    x = ins.tensor(img)  # (1, 1, 28, 28)
    with torch.no_grad():  # the reference, without hooks' help: crop, conv1, bn1 (eval statistics)
        pre = model.bn1(model.conv1(model.crop(x)))  # (1, 16, 10, 10)
    negative = (pre[0] < 0).nonzero()
    assert len(negative) > 0  # a unit the ReLU zeroes
    c, y, xx = (int(v) for v in negative[0])
    u = ins.unit(img, "bn1", c, y, xx)
    assert u["output"] == pytest.approx(float(pre[0, c, y, xx]), abs=1e-5)
    assert u["output"] < 0 and u["activation"] == 0.0
    shown = ins.predict(img, activations=True)["layers"]
    bn1 = next(layer for layer in shown if layer["name"] == "bn1")
    assert bn1["min"] == 0.0 and bn1["max"] == pytest.approx(float(F.relu(pre).max()), abs=1e-3)


def test_viz_capture_gives_the_layer_its_own_output(race_inspector):
    """`cnnlab viz --layer bn1` and the saliency scores read capture(): the batch norm's output,
    negative values included, not what the in-place ReLU after it made of it; gradients flow."""
    from cnnlab.viz.layers import capture

    model = race_inspector.model
    torch.manual_seed(0)
    x = torch.randn(4, 1, 28, 28, requires_grad=True)
    with torch.no_grad():
        pre = model.bn1(model.conv1(model.crop(x)))  # (4, 16, 10, 10)
    with capture(model, ["bn1"]) as acts:
        model(x)
    assert acts["bn1"].min() < 0
    torch.testing.assert_close(acts["bn1"], pre)
    acts["bn1"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
