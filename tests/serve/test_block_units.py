"""A conv → batch norm → ReLU block as one layer (mnist-best's ConvBNReLU): the page's unit panel
gives the conv's arithmetic on the block's input, then batch norm's on the conv's sum, then the
activation, each against torch (F.conv2d, F.batch_norm, the block itself), and in Chromium."""

from __future__ import annotations

import base64

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tests.serve.page_tools import click_unit, load_test_image, needs_chromium, opened_page
from torch import nn

from cnnlab.serve.inspector import Inspector, _batch_norm_arithmetic, _conv_bn_block
from cnnlab.train.run import config_for, run_training


@pytest.fixture(scope="module")
def best_inspector(tmp_path_factory):
    out = tmp_path_factory.mktemp("best") / "run"
    cfg = config_for("mnist-best", epochs=1, train_subset=512, test_subset=200, device="cpu", compile=False)
    run_training(cfg, out=out, quiet=True, echo=lambda s: None)
    return Inspector(out)


@torch.no_grad()
def test_a_block_unit_is_conv_then_batch_norm_then_relu(best_inspector):
    ins = best_inspector
    model = ins.model
    img = np.random.default_rng(0).random((28, 28), dtype=np.float32)
    x = model.block1(ins.tensor(img))  # block2's input, (1, 32, 28, 28)
    block = model.block2
    conv = F.conv2d(x, block.conv.weight, None, 2, 1)  # (1, 32, 14, 14)
    bn = F.batch_norm(
        conv, block.bn.running_mean, block.bn.running_var, block.bn.weight, block.bn.bias, False, 0.0, 1e-5
    )
    for c, y, xx in ((0, 3, 4), (17, 13, 0), (31, 7, 7)):
        u = ins.unit(img, "block2", c, y, xx)
        assert u["kind"] == "conv" and u["type"] == "ConvBNReLU"
        assert u["sum"] == pytest.approx(float(conv[0, c, y, xx]), abs=1e-4)
        b = u["batchnorm"]
        assert b["input"] == pytest.approx(float(conv[0, c, y, xx]), abs=1e-4)
        assert b["sum"] == pytest.approx(float(bn[0, c, y, xx]), abs=1e-4)
        assert u["activation_type"] == "ReLU"
        assert u["output"] == pytest.approx(max(0.0, float(bn[0, c, y, xx])), abs=1e-4)
        assert u["output"] == pytest.approx(float(block(x)[0, c, y, xx]), abs=1e-5)
        assert u["output_map"]["shape"] == [14, 14]  # the conv's map, which the browser rebuilds
        got = np.frombuffer(base64.b64decode(u["output_map"]["data"]), dtype="<f4").reshape(14, 14)
        np.testing.assert_allclose(got, conv[0, c].numpy(), atol=1e-5)


def test_the_first_filters_of_a_net_of_blocks_are_its_first_blocks_conv(best_inspector):
    """The side panel's first-layer filters: block1's conv (before: "none (no convolution)")."""
    f = best_inspector.first_filters()
    assert f is not None and f["layer"] == "block1" and f["shape"] == [32, 1, 3, 3]
    w = best_inspector.model.block1.conv.weight.detach().numpy()
    np.testing.assert_array_equal(np.frombuffer(base64.b64decode(f["data"]), dtype=np.float32).reshape(w.shape), w)


def test_only_conv_batch_norm_activation_blocks_are_explained_so():
    """A block is explained as conv → batch norm → activation only when it is exactly that, with
    batch norm on its running statistics; anything else keeps the plain panel."""
    conv, bn, relu = nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3).eval(), nn.ReLU()
    assert _conv_bn_block(nn.Sequential(conv, bn, relu)) == (conv, bn, relu)
    assert _conv_bn_block(nn.Sequential(conv, bn, nn.Tanh())) is not None
    assert _conv_bn_block(nn.Sequential(conv, relu, bn)) is None  # another order
    assert _conv_bn_block(nn.Sequential(conv, bn)) is None  # no activation
    assert _conv_bn_block(nn.Sequential(conv, nn.BatchNorm2d(3).train(), relu)) is None  # batch statistics
    assert _conv_bn_block(nn.Sequential(conv, bn, nn.MaxPool2d(2))) is None  # not elementwise
    assert _conv_bn_block(conv) is None
    reflect = nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect")  # the arithmetic pads with zeros
    assert _conv_bn_block(nn.Sequential(reflect, bn, relu)) is None


def test_batch_norm_without_affine_after_a_grouped_strided_conv():
    """affine=False: γ = 1 and β = 0, against the block's own batch norm on its conv's output (a
    conv with bias, stride 2 and groups 2)."""
    torch.manual_seed(0)
    block = nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), nn.BatchNorm2d(6, affine=False), nn.ReLU())
    block[1].running_mean.normal_()
    block[1].running_var.uniform_(0.5, 2.0)
    block.eval()
    x = torch.randn(1, 4, 9, 9)
    with torch.no_grad():
        conv = block[0](x)
        b = _batch_norm_arithmetic(conv[0, 5, 2, 3], block[1], 5)
        assert b["affine"] is False and (b["gamma"], b["beta"]) == (1.0, 0.0)
        assert b["sum"] == pytest.approx(float(block[1](conv)[0, 5, 2, 3]), abs=1e-5)


@needs_chromium
def test_the_page_rebuilds_the_conv_and_shows_batch_norm_and_relu(best_inspector, serve_inspector):
    with serve_inspector(best_inspector) as server, opened_page(server, "block2") as (page, errors):
        load_test_image(page, server, 0)
        click_unit(page, "block2", 5, 6, 7)
        page.wait_for_selector("#unit-body .anim")
        assert float(page.get_attribute("#unit-body", "data-max-diff")) < 1e-4  # the browser's conv = torch's
        u = best_inspector.unit(best_inspector.test_images.native(0)[0], "block2", 5, 6, 7)
        b = u["batchnorm"]
        lines = page.inner_text("#unit-body .formula").splitlines()
        assert f"= {u['sum']:.4f}   (the conv's sum, before batch norm)" in lines[-6]
        assert lines[-5].startswith(f"batch norm: x = {b['input']:.4f} ")
        assert lines[-2].endswith(f"= {b['sum']:.4f}")
        assert lines[-1].startswith(f"ReLU({b['sum']:.4f}) = {u['output']:.4f}")
        assert not errors, errors
