"""LeNet-5 as in the lecture's size table."""

from __future__ import annotations

import pytest
import torch

from cnnlab.errors import CnnlabError
from cnnlab.models import LeNet5, create, get_spec, list_models


def test_layer_names_and_shapes_match_the_lecture():
    model = create("lenet5")
    assert [name for name, _ in model.named_children()] == ["C1", "S2", "C3", "S4", "F5", "F6", "output"]
    shapes = {}
    for name, module in model.named_children():
        module.register_forward_hook(lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape[1:])))
    out = model(torch.randn(2, 1, 28, 28))
    assert out.shape == (2, 10)
    assert shapes == {
        "C1": (6, 28, 28),
        "S2": (6, 14, 14),
        "C3": (16, 10, 10),
        "S4": (16, 5, 5),
        "F5": (120,),
        "F6": (84,),
        "output": (10,),
    }


def test_parameter_count_is_the_lecture_weights_plus_biases():
    model = create("lenet5")
    weights = 150 + 2400 + 48000 + 10080 + 840  # the lecture's table
    biases = 6 + 16 + 120 + 84 + 10
    assert sum(p.numel() for p in model.parameters()) == weights + biases == 61706


def test_32x32_input_uses_no_padding_like_the_paper():
    model = create("lenet5", input_size=32)
    assert model.C1.padding == (0, 0)
    assert model(torch.randn(1, 1, 32, 32)).shape == (1, 10)
    rgb = create("lenet5", in_channels=3, input_size=32, num_classes=100)
    assert rgb(torch.randn(2, 3, 32, 32)).shape == (2, 100)


@pytest.mark.parametrize("activation,pool", [("tanh", "avg"), ("gelu", "max")])
def test_variants(activation, pool):
    model = LeNet5(activation=activation, pool=pool)
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)


def test_backward_reaches_every_parameter():
    model = create("lenet5")
    model(torch.randn(4, 1, 28, 28)).logsumexp(1).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_unknown_model_suggests_close_names():
    with pytest.raises(CnnlabError, match=r"unknown model 'lenet'; did you mean lenet5.*cnnlab models"):
        create("lenet")


def test_too_small_input_is_a_clear_error():
    with pytest.raises(CnnlabError, match=r"lenet5 needs inputs of at least 28×28 and the data gives 16×16"):
        create("lenet5", input_size=16)


def test_registry_lists_lenet5():
    assert "lenet5" in list_models()
    assert get_spec("lenet5").recipe["epochs"] >= 1
