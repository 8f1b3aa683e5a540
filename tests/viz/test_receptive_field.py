"""Receptive fields from the layers, against a gradient-based brute force."""

from __future__ import annotations

import torch
from torch import nn

from cnnlab.models import LeNet5, create
from cnnlab.viz.layers import capture
from cnnlab.viz.receptive_field import receptive_fields


def brute_force_box(model: nn.Module, input_shape, layer: str, position, tries: int = 1):
    """Bounding box of the input pixels with a non-zero gradient for one unit (union over tries)."""
    hit = torch.zeros(input_shape[1:], dtype=torch.bool)
    g = torch.Generator().manual_seed(0)
    for _ in range(tries):
        x = torch.rand((1, *input_shape), generator=g).requires_grad_()
        with capture(model, [layer]) as acts:
            model(x)
        acts[layer][(0, 0, *position)].backward()
        hit |= x.grad[0].abs().sum(0) > 0
    ys, xs = hit.nonzero(as_tuple=True)
    return (int(ys.min()), int(ys.max()) + 1), (int(xs.min()), int(xs.max()) + 1)


def positive(model: nn.Module) -> nn.Module:
    """Positive weights, zero biases: every path carries gradient, nothing cancels."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(p.abs() + 0.01 if "weight" in name else torch.zeros_like(p))
    return model.eval()


def test_lenet_with_average_pooling():
    model = positive(LeNet5(pool="avg"))
    fields = receptive_fields(model, (1, 28, 28), ["C1", "S2", "C3", "S4"])
    assert [fields[n].size[0] for n in ("C1", "S2", "C3", "S4")] == [5, 6, 14, 16]
    assert [fields[n].jump[0] for n in ("C1", "S2", "C3", "S4")] == [1, 2, 2, 4]
    for layer, positions in {
        "C1": [(0, 0), (13, 20), (27, 27)],
        "C3": [(0, 0), (4, 7), (9, 9)],
        "S4": [(2, 2), (0, 4)],
    }.items():
        for pos in positions:
            assert fields[layer].box(pos, (28, 28)) == brute_force_box(model, (1, 28, 28), layer, pos), (layer, pos)


def test_lenet_with_max_pooling_union_of_gradients():
    model = positive(create("lenet5"))
    field = receptive_fields(model, (1, 28, 28), ["C3"])["C3"]
    for pos in [(3, 3), (6, 2)]:
        assert field.box(pos, (28, 28)) == brute_force_box(model, (1, 28, 28), "C3", pos, tries=40)


def test_strided_and_residual_networks():
    fast = positive(create("mnist-fast"))
    field = receptive_fields(fast, (1, 28, 28), ["conv2"])["conv2"]
    assert field.size == (9.0, 9.0) and field.jump == (4.0, 4.0)  # 5×5 stride 2, then 3×3 stride 2: 5 + 2·2
    assert field.box((3, 4), (28, 28)) == brute_force_box(fast, (1, 28, 28), "conv2", (3, 4))
    resnet = positive(create("resnet18-small", input_size=32))
    fields = receptive_fields(resnet, (1, 32, 32), ["layer1", "layer2.0"])
    assert fields["layer1"].size == (11.0, 11.0)  # 3×3 stem + four 3×3 convs, stride 1
    for layer, pos in [("layer1", (16, 16)), ("layer1", (0, 5)), ("layer2.0", (8, 8))]:
        assert fields[layer].box(pos, (32, 32)) == brute_force_box(resnet, (1, 32, 32), layer, pos), layer


class _Slice(nn.Module):
    """x[..., a:b:t, c:d] (a crop, strided on the rows), as CentreCrop and narrow do."""

    def forward(self, x):
        return x[:, :, 3:20:2, 5:-2]


def test_crops_and_strided_slices_move_the_field():
    """mnist-race sees the centre 20×20 of a 28×28 image: its fields start 4 pixels in, and a
    slice in the middle of a net shifts and strides the field as the gradient says."""
    race = positive(create("mnist-race"))
    fields = receptive_fields(race, (1, 28, 28), ["conv1", "bn2"])
    assert fields["conv1"].start == (4.0, 4.0) and fields["bn2"].start == (4.0, 4.0)
    for layer, pos in [("conv1", (0, 0)), ("conv1", (3, 2)), ("conv1", (9, 9)), ("bn2", (3, 2)), ("bn2", (0, 4))]:
        assert fields[layer].box(pos, (28, 28)) == brute_force_box(race, (1, 28, 28), layer, pos), (layer, pos)
    net = positive(nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), _Slice(), nn.Conv2d(2, 2, 3)))
    field = receptive_fields(net, (1, 24, 24), ["2"])["2"]
    assert field.jump == (2.0, 1.0)
    for pos in [(0, 0), (2, 5), (6, 14)]:
        assert field.box(pos, (24, 24)) == brute_force_box(net, (1, 24, 24), "2", pos), pos
