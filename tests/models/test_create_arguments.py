"""``create``: bad arguments are one clear error; LeNet-5 (1998) runs at every size it accepts."""

from __future__ import annotations

import pytest
import torch

from cnnlab.errors import CnnlabError
from cnnlab.models import create, get_spec


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"num_classes": 2.5}, "num_classes must be an integer of at least 1, got 2.5"),
        ({"num_classes": 0}, "num_classes must be an integer"),
        ({"in_channels": 0}, "in_channels must be an integer of at least 1, got 0"),
        ({"input_size": (28,)}, "input_size must be a positive int or \\(H, W\\)"),
        ({"input_size": 0}, "input_size must be a positive int"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(CnnlabError, match=message):
        create("lenet5", **kwargs)


@pytest.mark.parametrize("size", [16, 17, 23, 29, 31, 32, 33, (28, 40), (33, 17), (16, 45)])
def test_lenet1998_runs_at_every_size_it_accepts(size):
    assert get_spec("lenet5-1998").min_size == 16
    model = create("lenet5-1998", input_size=size)
    h, w = (size, size) if isinstance(size, int) else size
    assert model(torch.zeros(2, 1, h, w)).shape == (2, 10)
