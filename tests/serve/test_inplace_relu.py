"""A layer followed by ReLU(inplace=True) (mnist-fast, mnist-race): the page's unit panel gives
the layer's own output, and its activation is what the next layer reads."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tests.serve.page_tools import click_unit, load_test_image, needs_chromium, opened_page
from torch import nn

from cnnlab.serve.inspector import Inspector, _batch_norm_arithmetic, _running_batch_norm
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


def test_batch_norm_unit_shows_its_arithmetic(race_inspector):
    """The panel's numbers for a bn1 unit: the conv output it reads, channel c's running mean and
    variance, γ and β, the standardized value and the output, against F.batch_norm in eval mode."""
    ins = race_inspector
    model = ins.model
    saved = {k: v.clone() for k, v in model.bn1.state_dict().items()}
    try:
        _check_batch_norm_unit(ins, model)
    finally:  # the module's other tests share this run's model
        model.bn1.load_state_dict(saved)


@torch.no_grad()
def _check_batch_norm_unit(ins, model):
    # non-trivial statistics and scale/shift, so a swapped term shows
    model.bn1.running_mean.normal_()
    model.bn1.running_var.uniform_(0.5, 2.0)
    model.bn1.weight.uniform_(0.5, 1.5)
    model.bn1.bias.normal_()
    img = np.random.default_rng(1).random((28, 28), dtype=np.float32)
    x = ins.tensor(img)
    conv = model.conv1(model.crop(x))  # (1, 16, 10, 10)
    ref = F.batch_norm(
        conv, model.bn1.running_mean, model.bn1.running_var, model.bn1.weight, model.bn1.bias, False, 0.0, 1e-5
    )
    for c, y, xx in ((3, 4, 5), (11, 0, 9)):
        u = ins.unit(img, "bn1", c, y, xx)
        assert u["kind"] == "batchnorm"
        assert u["input"] == pytest.approx(float(conv[0, c, y, xx]), abs=1e-5)
        assert u["mean"] == pytest.approx(float(model.bn1.running_mean[c]), abs=1e-5)
        assert u["var"] == pytest.approx(float(model.bn1.running_var[c]), abs=1e-5)
        assert (u["gamma"], u["beta"]) == pytest.approx(
            (float(model.bn1.weight[c]), float(model.bn1.bias[c])), abs=1e-5
        )
        std = (float(conv[0, c, y, xx]) - float(model.bn1.running_mean[c])) / math.sqrt(
            float(model.bn1.running_var[c]) + 1e-5
        )
        assert u["normalized"] == pytest.approx(std, abs=1e-4)
        assert u["sum"] == pytest.approx(float(ref[0, c, y, xx]), abs=1e-4)
        assert u["output"] == pytest.approx(float(ref[0, c, y, xx]), abs=1e-4)


@needs_chromium
def test_the_page_shows_a_batch_norm_units_arithmetic(race_inspector, serve_inspector):
    """In Chromium: clicking a bn1 unit shows its numbers, as the API gives them, in the formula."""
    with serve_inspector(race_inspector) as server, opened_page(server, "bn1") as (page, errors):
        load_test_image(page, server, 0)
        click_unit(page, "bn1", 3, 4, 5)
        lines = page.inner_text("#unit-body .formula").splitlines()
        u = race_inspector.unit(race_inspector.test_images.native(0)[0], "bn1", 3, 4, 5)

        def f(v: float) -> str:  # the page's fmt(v, 4)
            return f"{v:.4f}"

        def signed(v: float) -> str:
            return f"{'−' if v < 0 else '+'} {abs(v):.4f}"

        assert lines[0].startswith(f"batch norm: x = {f(u['input'])} ")
        assert lines[1] == f"running mean μ = {f(u['mean'])}, running variance σ² = {f(u['var'])}, ε = 0.00001"
        std = float(f"{u['std']:.4g}")
        assert lines[2] == (
            f"standardized x̂ = (x − μ) / √(σ² + ε) = ({f(u['input'])} {signed(-u['mean'])}) / {std:g} "
            f"= {f(u['normalized'])}"
        )
        assert lines[3] == (
            f"scale and shift γ·x̂ + β = {f(u['gamma'])} × {f(u['normalized'])} {signed(u['beta'])} "
            f"= {f(u['sum'])}   (the layer's output: {f(u['output'])})"
        )
        assert page.inner_text("#unit-title").startswith("bn1 (BatchNorm2d) map 3, unit (4, 5)")
        assert not errors, errors


def test_batch_norm_arithmetic_for_1d_and_without_affine():
    """BatchNorm1d (one feature per channel) and affine=False (γ = 1, β = 0), against F.batch_norm."""
    torch.manual_seed(0)
    for bn in (nn.BatchNorm1d(6), nn.BatchNorm1d(6, affine=False), nn.BatchNorm2d(6, affine=False)):
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
        if bn.weight is not None:
            with torch.no_grad():
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.normal_()
        bn.eval()
        x = torch.randn(1, 6) if isinstance(bn, nn.BatchNorm1d) else torch.randn(1, 6, 3, 3)
        with torch.no_grad():
            ref = bn(x)
        assert _running_batch_norm(bn)
        at = (0, 4) if x.ndim == 2 else (0, 4, 1, 2)
        u = _batch_norm_arithmetic(x[at], bn, 4, spatial=x.ndim == 4)
        assert u["sum"] == pytest.approx(float(ref[at]), abs=1e-5)
        assert u["affine"] == (bn.weight is not None)
        if not u["affine"]:
            assert (u["gamma"], u["beta"]) == (1.0, 0.0)


def test_batch_norm_without_running_statistics_or_in_training_is_not_explained():
    """Batch statistics (train mode, or track_running_stats=False) depend on the whole batch, not
    on four numbers of the channel: the panel shows only the output then."""
    assert not _running_batch_norm(nn.BatchNorm2d(4).train())
    assert not _running_batch_norm(nn.BatchNorm2d(4, track_running_stats=False).eval())
    assert not _running_batch_norm(nn.Linear(4, 4))
    assert _running_batch_norm(nn.BatchNorm2d(4).eval())
