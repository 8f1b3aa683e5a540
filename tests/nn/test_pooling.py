"""Pooling: the output-size rule, LP-pooling, stochastic pooling."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnnlab.nn import StochasticPool2d, make_pool, pool_output_size


@pytest.mark.parametrize(
    "h,f,s,p", [(28, 2, 2, 0), (13, 3, 2, 0), (55, 3, 2, 0), (7, 3, 1, 1), (224, 3, 2, 1), (10, 4, 3, 0)]
)
def test_output_size_rule_matches_torch(h, f, s, p):
    out = F.max_pool2d(torch.zeros(1, 1, h, h), f, s, p)
    assert out.shape[-1] == pool_output_size(h, f, s, p) == (h + 2 * p - f) // s + 1


def test_kinds_and_shapes():
    x = torch.rand(2, 3, 8, 8)
    for kind in ("max", "avg", "lp", "stochastic"):
        assert make_pool(kind, 2)(x).shape == (2, 3, 4, 4)
    torch.testing.assert_close(make_pool("lp", 2, p=1.0)(x), F.avg_pool2d(x, 2) * 4)  # p = 1: sum pooling
    with pytest.raises(ValueError, match="unknown pooling 'median'"):
        make_pool("median")


def test_stochastic_pooling_test_time_is_the_probability_weighted_average():
    pool = StochasticPool2d(2).eval()
    x = torch.tensor([[[[1.0, 3.0], [0.0, 0.0]]]])
    assert pool(x).item() == pytest.approx((1 * 1 + 3 * 3) / 4)  # Σ p a, p = a / Σ a
    assert pool(torch.zeros(1, 1, 2, 2)).item() == 0


def test_stochastic_pooling_samples_in_proportion():
    torch.manual_seed(0)
    pool = StochasticPool2d(2).train()
    x = torch.tensor([1.0, 3.0, 0.0, 0.0]).view(1, 1, 2, 2).expand(4000, 1, 2, 2).contiguous()
    out = pool(x).flatten()
    assert set(out.unique().tolist()) == {1.0, 3.0}  # always one of the window's values, never the zero ones
    assert (out == 3).float().mean().item() == pytest.approx(0.75, abs=0.03)


def test_stochastic_pooling_gradient_reaches_the_sampled_unit():
    x = torch.tensor([[[[0.0, 2.0], [0.0, 0.0]]]], requires_grad=True)
    StochasticPool2d(2).train()(x).sum().backward()
    assert x.grad.flatten().tolist() == [0.0, 1.0, 0.0, 0.0]


def test_pool_output_size_ceil_mode_and_refusals():
    from cnnlab.errors import CnnlabError

    for h, f, s, p in [(112, 3, 2, 0), (56, 3, 2, 1), (28, 2, 2, 0), (7, 3, 2, 1), (14, 3, 3, 1)]:
        for ceil in (False, True):
            torch_size = torch.nn.MaxPool2d(f, s, p, ceil_mode=ceil)(torch.zeros(1, 1, h, h)).shape[-1]
            assert pool_output_size(h, f, s, p, ceil_mode=ceil) == torch_size
    assert pool_output_size(112, 3, 2, ceil_mode=True) == 56  # GoogLeNet's pool
    with pytest.raises(CnnlabError, match="does not fit"):
        pool_output_size(2, 5, 1)
    with pytest.raises(CnnlabError, match="stride must be an integer of at least 1"):
        pool_output_size(8, 2, 0)


@pytest.mark.parametrize("args,message", [(("max", 0), "extent"), (("max", 2, 0), "stride"), (("median",), "unknown")])
def test_make_pool_refuses_bad_arguments(args, message):
    from cnnlab.errors import CnnlabError

    with pytest.raises(CnnlabError, match=message):
        make_pool(*args)


def test_stochastic_pool_wants_four_dimensions():
    from cnnlab.errors import CnnlabError

    with pytest.raises(CnnlabError, match=r"\(N, C, H, W\) input, got shape \(1, 8, 8\)"):
        StochasticPool2d()(torch.rand(1, 8, 8))
