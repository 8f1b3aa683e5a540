"""Dataset examples, feature visualization, parameterizations, objectives, saliency, filters."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cnnlab.data import load_dataset
from cnnlab.errors import CnnlabError
from cnnlab.models import create
from cnnlab.viz import objectives
from cnnlab.viz.examples import top_examples
from cnnlab.viz.layers import capture, get_layer, layer_table
from cnnlab.viz.param import make_param
from cnnlab.viz.render import RenderConfig, render
from cnnlab.viz.saliency import saliency_map
from cnnlab.viz.source import load_subject
from cnnlab.viz.transforms import jitter, pad, random_rotate, random_scale, standard


@pytest.fixture(scope="module")
def small_test_set():
    _, test = load_dataset("mnist")
    return test.subset(slice(0, 301))


@pytest.mark.parametrize("position", [None, (5, 4)])
def test_top_examples_match_brute_force(small_test_set, position):
    torch.manual_seed(0)
    model = create("lenet5").eval()
    got = top_examples(
        model, small_test_set, "C3", 7, k=9, position=position, batch_size=37
    )  # batches that do not divide 301
    with torch.no_grad(), capture(model, ["C3"]) as acts:
        model(small_test_set.normalize(small_test_set.images))
    a = acts["C3"][:, 7]
    scores = a[:, position[0], position[1]] if position else a.flatten(1).max(1).values
    expected = torch.topk(scores, 9)
    assert got.indices == expected.indices.tolist()
    np.testing.assert_allclose(got.values, expected.values.numpy(), rtol=1e-5)
    assert len(got.boxes) == 9 and all(0 <= b[0][0] < b[0][1] <= 28 for b in got.boxes)
    if position is None:
        i = got.indices[0]
        y, x = got.locations[0]
        assert a[i, y, x] == a[i].max()


def test_errors_list_what_exists():
    model = create("lenet5")
    with pytest.raises(
        CnnlabError, match=r"no layer 'C4' in LeNet5; did you mean C1, C3.*layers: C1, S2, C3, S4, F5, F6, output"
    ):
        get_layer(model, "C4")
    _, test = load_dataset("mnist")
    with pytest.raises(CnnlabError, match=r"channel 99 is out of range for layer 'C3', which has 16 channels \(0-15\)"):
        top_examples(model, test.subset(slice(0, 10)), "C3", 99)


def test_layer_table():
    rows = {r["name"]: r for r in layer_table(create("lenet5"), (1, 28, 28))}
    assert rows["C3"]["output_shape"] == [16, 10, 10] and rows["F5"]["params"] == 48120


@pytest.mark.parametrize("kind", ["pixels", "fourier"])
@pytest.mark.parametrize("channels", [1, 3])
def test_parameterizations_give_images_in_range(kind, channels):
    param = make_param(kind, (2, channels, 20, 24), seed=1)
    for p in param.parameters():
        with torch.no_grad():
            p.mul_(1000)  # even extreme parameters
    img = param.image()
    assert img.shape == (2, channels, 20, 24) and img.min() >= 0 and img.max() <= 1
    img.sum().backward()
    assert all(p.grad is not None for p in param.parameters())


def test_transforms():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32)
    assert pad(4)(x, g).shape[-1] == 40 and jitter(4)(x, g).shape[-1] == 28
    assert random_rotate([30])(x, g).shape == x.shape
    assert random_scale([0.5])(x, g).shape[-1] == 16
    assert standard(224)(torch.rand(1, 3, 224, 224), g).shape[1] == 3


def test_objective_algebra():
    acts = {
        "L": torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2),
        objectives.OUTPUT: torch.tensor([[1.0, 5.0], [2.0, 3.0]]),
    }
    img = torch.rand(2, 1, 4, 4)
    a, b = objectives.channel("L", 1), objectives.class_logit(1)
    torch.testing.assert_close((a + b)(acts, img), a(acts, img) + b(acts, img))
    torch.testing.assert_close((2 * a - b)(acts, img), 2 * a(acts, img) - b(acts, img))
    torch.testing.assert_close((a * b)(acts, img), a(acts, img) * b(acts, img))
    torch.testing.assert_close((-a + 1)(acts, img), 1 - a(acts, img))
    assert (a + b).layers == {"L", objectives.OUTPUT}
    assert objectives.neuron("L", 2)(acts, img).tolist() == [acts["L"][0, 2, 1, 1].item(), acts["L"][1, 2, 1, 1].item()]
    same = {"L": torch.ones(2, 3, 2, 2)}
    assert objectives.diversity("L")(same, img).tolist() == pytest.approx(
        [-1.0, -1.0]
    )  # identical images: similarity 1


def test_gradient_ascent_on_a_trained_lenet(trained_lenet):
    s = load_subject(str(trained_lenet))
    obj = objectives.channel("C3", 3)
    # the optimizer alone (the image priors off: no decay, no blur), as many steps as before
    bare = RenderConfig(steps=64, snapshots=(0, 4, 48, 64), decay=0.0, blur_every=0)
    result = render(s.model, obj, s.input_shape, s.mean, s.std, bare)
    assert sorted(result.snapshots) == [0, 4, 48, 64]
    # the objective (mean of C3 channel 3) is bounded for images in [0, 1]; the optimized
    # image must beat every real test digit by a wide margin, and the random start
    _, test = load_dataset("mnist")
    x, _ = next(test.subset(slice(0, 2000)).batches(2000))
    with torch.no_grad(), capture(s.model, ["C3"]) as acts:
        s.model(x)
    best_real = acts["C3"][:, 3].mean((1, 2)).max().item()
    assert result.end_value > result.start_value + 1.0 and result.end_value > 2 * max(best_real, 0.1)
    # with the default priors (they trade activation for a natural image) it still beats every digit
    natural = render(s.model, obj, s.input_shape, s.mean, s.std, RenderConfig(steps=256))
    assert natural.end_value > 2 * max(best_real, 0.1) and natural.end_value > natural.start_value
    logit = render(
        s.model,
        objectives.class_logit(3),
        s.input_shape,
        s.mean,
        s.std,
        RenderConfig(steps=128, param="pixels", decay=0.0, blur_every=0),  # smaller steps (gain 0.6), more jitter
    )
    assert logit.end_value > logit.start_value + 5
    final = result.final
    assert final.min() >= 0 and final.max() <= 1 and final.shape == (1, 1, 28, 28)


def test_gradient_ascent_on_a_random_resnet18_keeps_its_weights():
    torch.manual_seed(0)
    model = create("resnet18")
    before = model.layer2[0].conv1.weight.clone()
    result = render(
        model,
        objectives.channel("layer2", 5),
        (3, 112, 112),
        (0.485, 0.456, 0.406),
        (0.229, 0.224, 0.225),
        RenderConfig(steps=96, snapshots=(0, 96), lr=0.1),
    )
    assert result.end_value > result.start_value + 1.0 and result.end_value > 2 * abs(result.start_value)
    assert torch.equal(model.layer2[0].conv1.weight, before) and all(p.requires_grad for p in model.parameters())


def test_saliency_of_a_linear_model_is_its_weights():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 5 * 5, 3))
    x = torch.randn(1, 2, 5, 5)
    sal = saliency_map(model, x, 1)
    expected = model[1].weight[1].view(2, 5, 5).abs().amax(0)
    torch.testing.assert_close(sal, expected)
    torch.testing.assert_close(saliency_map(model, x, 1, smooth=5), expected)  # the gradient does not depend on x
    with pytest.raises(CnnlabError, match="class 7 is out of range: the model has 3 classes"):
        saliency_map(model, x, 7)
