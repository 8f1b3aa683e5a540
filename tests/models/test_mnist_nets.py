"""mnist-race = mnist-fast (width 16, batch norm) on the centre 20×20: the crop against torchvision's, the
whole model against a 20×20 mnist-fast of the same width given the cropped image (values and input
gradients), and against the same layers written with torch.nn.functional."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchvision.transforms.functional import center_crop

from cnnlab.models import create
from cnnlab.models.mnist_nets import CentreCrop, MnistFast


@pytest.mark.parametrize(("h", "w", "size"), [(28, 28, 20), (28, 28, 24), (27, 28, 20), (31, 26, 21)])
def test_centre_crop_is_torchvisions(h, w, size):
    x = torch.randn(3, 2, h, w)
    assert torch.equal(CentreCrop(size)(x), center_crop(x, [size, size]))


def test_centre_crop_keeps_an_image_smaller_than_the_crop_whole():
    x = torch.randn(2, 1, 16, 28)
    out = CentreCrop(20)(x)
    assert torch.equal(out, x[:, :, :, 4:24])


def test_mnist_race_is_mnist_fast_on_the_centre_20x20():
    torch.manual_seed(0)
    race = create("mnist-race")
    fast20 = MnistFast(input_size=(20, 20), width=16, batch_norm=True)
    fast20.load_state_dict(race.state_dict())
    x = torch.randn(4, 1, 28, 28, requires_grad=True)
    x20 = x.detach()[:, :, 4:24, 4:24].clone().requires_grad_(True)
    out, ref = race(x), fast20(x20)
    torch.testing.assert_close(out, ref)
    out.square().sum().backward()
    ref.square().sum().backward()
    assert x.grad is not None and x20.grad is not None
    torch.testing.assert_close(x.grad[:, :, 4:24, 4:24], x20.grad)
    border = x.grad.clone()
    border[:, :, 4:24, 4:24] = 0
    assert border.abs().max() == 0  # the model never sees the 4-pixel frame
    assert x20.grad.abs().sum() > 0


def test_mnist_fast_is_unchanged_by_the_crop_option():
    fast = create("mnist-fast")
    assert fast.crop is None and [n for n, _ in fast.named_children()] == ["conv1", "conv2", "fc", "output", "relu"]
    assert sum(p.numel() for p in fast.parameters()) == 313_514  # 24·25+24 + 48·216+48 + 2352·128+128 + 1290
    # 16·25 + 2·16 + 32·144 + 2·32 + 800·128+128 + 1290: bias-free convs, BN scale and shift, FC 800 = 32·5·5 inputs
    assert sum(p.numel() for p in create("mnist-race").parameters()) == 108_922


@pytest.mark.parametrize("train", [True, False])
def test_mnist_race_is_crop_conv_bn_relu_twice_then_two_linear_layers(train):
    """Against the same computation written with torch.nn.functional: batch norm between each conv
    and its ReLU (batch statistics in training, running statistics in eval mode), no conv bias."""
    torch.manual_seed(1)
    race = create("mnist-race").train(train)
    assert race.conv1.bias is None and race.conv2.bias is None
    for bn in (race.bn1, race.bn2):  # non-trivial BN parameters and running statistics
        assert bn is not None
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.normal_()
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(8, 1, 28, 28)
    stats = [(bn.running_mean.clone(), bn.running_var.clone()) for bn in (race.bn1, race.bn2)]

    def ref(x):
        h = x[:, :, 4:24, 4:24]
        for conv, bn, (mean, var) in ((race.conv1, race.bn1, stats[0]), (race.conv2, race.bn2, stats[1])):
            h = F.conv2d(h, conv.weight, None, stride=2, padding=conv.padding)
            h = F.relu(F.batch_norm(h, mean.clone(), var.clone(), bn.weight, bn.bias, training=train, eps=bn.eps))
        h = F.relu(F.linear(h.flatten(1), race.fc.weight, race.fc.bias))
        return F.linear(h, race.output.weight, race.output.bias)

    torch.testing.assert_close(race(x), ref(x))
