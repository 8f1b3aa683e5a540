"""Feature visualization that shows what the lecture shows (issue 13): images that start as faint
noise, form gradually without clipping, look like their class, and figures that say their steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cnnlab.data import load_dataset
from cnnlab.models import create
from cnnlab.viz import objectives
from cnnlab.viz.figures import OUTSIDE, padded_patch, snapshots_figure, weights_figure
from cnnlab.viz.filters import filter_weights, input_layout
from cnnlab.viz.layers import capture
from cnnlab.viz.param import make_param
from cnnlab.viz.render import RenderConfig, RenderResult, render
from cnnlab.viz.source import load_subject

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def saturation(img: np.ndarray) -> float:
    return float(((img < 0.01) | (img > 0.99)).mean())


def roughness(img: np.ndarray) -> float:
    return float((np.abs(np.diff(img, axis=-1)).mean() + np.abs(np.diff(img, axis=-2)).mean()) / 2)


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1),
        nn.ReLU(),
    ).eval()


@pytest.mark.parametrize("kind", ["fourier", "pixels"])
def test_the_start_is_faint_noise_around_mid_grey(kind):
    for size in (28, 64, 224):
        img = make_param(kind, (2, 3, size, size), seed=0).image().detach().numpy()
        assert abs(img.mean() - 0.5) < 0.01 and img.std() < 0.01, (kind, size, img.std())
        assert saturation(img) == 0


@pytest.mark.parametrize("kind", ["fourier", "pixels"])
def test_images_form_gradually_without_clipping_on_a_random_conv_net(kind):
    """At 64×64, every snapshot of 0, 4, 48, 512 steps: ≤ 2% saturated pixels and a bounded
    roughness, each snapshot further from the start than the last, and the objective improved."""
    cfg = RenderConfig(steps=512, snapshots=(0, 4, 48, 512), param=kind)
    res = render(small_net(), objectives.channel("6", 3), (3, 64, 64), MEAN, STD, cfg)
    start = res.snapshots[0]
    moved = []
    for step in (0, 4, 48, 512):
        img = res.snapshots[step]
        assert saturation(img) <= 0.02, (step, saturation(img))
        assert roughness(img) <= 0.12, (step, roughness(img))
        moved.append(float(np.abs(img - start).mean()))
    assert moved == sorted(moved) and moved[1] < moved[2] < moved[3]
    assert moved[1] < 0.05  # step 4 is still close to the start: the image forms, it does not jump
    assert res.end_value > res.start_value + 0.2 and res.end_value > 5 * abs(res.start_value)


def test_forward_stops_after_the_deepest_layer_the_objective_needs():
    class Boom(nn.Module):
        def forward(self, x):
            raise AssertionError("a layer above the objective ran")

    net = small_net()
    guarded = nn.Sequential(*net, nn.Flatten(), Boom())
    cfg = RenderConfig(steps=3, snapshots=(0, 3), seed=2)
    a = render(guarded, objectives.channel("6", 1), (3, 32, 32), MEAN, STD, cfg)
    b = render(net, objectives.channel("6", 1), (3, 32, 32), MEAN, STD, cfg)
    np.testing.assert_allclose(a.final, b.final, rtol=1e-5, atol=1e-6)  # the same optimization


def test_batched_objectives_give_each_image_its_own_target():
    acts = {"L": torch.arange(2 * 3 * 4, dtype=torch.float32).view(2, 3, 2, 2)}
    img = torch.zeros(2, 1, 4, 4)
    got = objectives.channels("L", [2, 0])(acts, img)
    assert got.tolist() == [acts["L"][0, 2].mean().item(), acts["L"][1, 0].mean().item()]
    out = {objectives.OUTPUT: torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])}
    assert objectives.class_logits([1, 2])(out, img).tolist() == [2.0, 6.0]


def test_a_class_visualization_moves_toward_its_class_mean(trained_lenet):
    """A (briefly) trained LeNet-5: each class image ends closer to its own class's mean training
    image than it started, for most classes, and closer to its own than to the average other."""
    s = load_subject(str(trained_lenet))
    train, _ = load_dataset("mnist")
    imgs = train.images[:20000, 0].float() / 255
    labels = train.labels[:20000]
    means = torch.stack([imgs[labels == k].mean(0) for k in range(10)]).numpy().reshape(10, -1)

    def corr(img, k):
        return float(np.corrcoef(img.ravel(), means[k])[0, 1])

    res = render(
        s.model,
        objectives.class_logits(list(range(10))),
        s.input_shape,
        s.mean,
        s.std,
        RenderConfig(steps=256, snapshots=(0, 256), batch=10),
    )
    toward = own_beats_others = 0
    for k in range(10):
        start, end = res.snapshots[0][k, 0], res.final[k, 0]
        toward += corr(end, k) > corr(start, k) + 0.1
        own_beats_others += corr(end, k) > np.mean([corr(end, j) for j in range(10) if j != k])
    assert toward >= 8 and own_beats_others >= 8, (toward, own_beats_others)


def test_every_snapshot_column_is_labelled_with_its_step():
    snaps = {s: np.full((2, 1, 8, 8), 0.5) for s in (0, 4, 48, 2048)}
    fig = snapshots_figure(RenderResult(snaps, 0.0, 1.0), "t")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["step 0", "step 4", "step 48", "step 2048"]
    assert len(fig.axes) == 8  # a row per image of the batch


def test_fully_connected_weights_are_drawn_in_the_layout_of_their_input():
    torch.manual_seed(0)
    model = create("lenet5").eval()
    assert input_layout(model, "F5", (1, 28, 28)) == (16, 5, 5)  # S4's maps
    units, caption, colour = filter_weights(model, "F5", (1, 28, 28))
    assert units.shape == (120, 16, 5, 5) and not colour and "16 maps of 5×5" in caption
    # unit 7's weight from S4 map 3, position (1, 4) is in_features index 3·25 + 1·5 + 4
    assert units[7, 3, 1, 4] == model.F5.weight[7, 3 * 25 + 1 * 5 + 4].item()
    units6, _, _ = filter_weights(model, "F6", (1, 28, 28))
    assert units6.shape == (84, 1, 10, 12)  # F5's 120 outputs have no spatial layout: a 10×12 grid
    fc = create("fc-baseline").eval()
    first = next(n for n, m in fc.named_modules() if isinstance(m, nn.Linear))
    assert filter_weights(fc, first, (1, 28, 28))[0].shape[1:] == (1, 28, 28)  # the lecture's MNIST picture


def test_signed_weights_use_one_diverging_map_with_zero_white():
    units = np.zeros((2, 1, 3, 3))
    units[0, 0, 0, 0], units[1, 0, 2, 2] = 1.0, -1.0
    fig = weights_figure(units)
    image = fig.axes[0].get_images()[0]
    assert image.get_cmap().name.startswith("RdBu_r") and image.norm.vmin == -1 and image.norm.vmax == 1
    r0, g0, b0, _ = image.get_cmap()(image.norm(0.0))
    assert min(r0, g0, b0) > 0.9  # zero is (near) white
    r, _, b, _ = image.get_cmap()(image.norm(1.0))
    assert r > b  # positive red
    assert len(fig.axes) == 2  # the image and its colour bar


def test_a_receptive_field_past_the_border_is_padded_with_a_colour_that_is_not_ink():
    img = np.random.default_rng(0).random((28, 28))
    patch = padded_patch(img, ((-3, 11), (20, 34)))  # 3 rows above the image, 6 columns right of it
    assert patch.shape == (14, 14, 3)
    np.testing.assert_array_equal(patch[3:, :8, 0], img[0:11, 20:28])
    outside = np.concatenate([patch[:3].reshape(-1, 3), patch[3:, 8:].reshape(-1, 3)])
    colours = {tuple(c) for c in OUTSIDE}
    assert all(tuple(p) in colours for p in outside)
    assert all(abs(c[2] - c[0]) > 0.1 for c in colours)  # bluish: no grey pixel of a digit looks like it


def test_the_fourier_blur_is_a_gaussian_of_sigma_pixels():
    from scipy.ndimage import gaussian_filter

    param = make_param("fourier", (1, 1, 32, 40), seed=3, decorrelate=False)
    with torch.no_grad():
        param.spectrum.mul_(300)  # a visible image (pre-sigmoid values of order 1)

    def pre():
        return torch.logit(param.image()).detach().numpy()[0, 0]

    before = pre()
    param.blur_(1.2)
    expected = gaussian_filter(before, 1.2, mode="wrap")  # the FFT's periodic borders
    np.testing.assert_allclose(pre(), expected, atol=2e-2 * np.abs(before).max())


def test_decay_moves_the_image_to_the_data_mean_colour():
    for kind in ("fourier", "pixels"):
        param = make_param(kind, (2, 3, 16, 20), seed=1)
        target = torch.tensor([0.2, 0.5, 0.7])
        param.decay_(1.0, target)
        img = param.image().detach()
        torch.testing.assert_close(img, target.view(1, 3, 1, 1).expand_as(img), atol=1e-4, rtol=0)


@pytest.mark.parametrize("kind", ["fourier", "pixels"])
@pytest.mark.parametrize("channels", [1, 3])
def test_clipping_sets_the_masked_pixels_to_the_mean_and_leaves_the_rest(kind, channels):
    param = make_param(kind, (2, channels, 12, 15), seed=2)
    with torch.no_grad():
        for p in param.parameters():
            p.mul_(100)  # a visible image
    before = param.image().detach()
    mask = torch.rand(2, 1, 12, 15, generator=torch.Generator().manual_seed(0)) < 0.3
    target = torch.tensor([0.2, 0.5, 0.7][:channels])
    param.clip_(mask, target)
    after = param.image().detach()
    want = torch.where(mask, target.view(1, -1, 1, 1).expand_as(before), before)
    torch.testing.assert_close(after, want, atol=1e-4, rtol=0)


def test_the_clipped_pixels_are_those_of_smallest_norm_and_contribution():
    from cnnlab.viz.render import _clip_mask

    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 10, 10, generator=g).requires_grad_()
    (image * torch.randn(1, 3, 10, 10, generator=g)).sum().backward()
    target = torch.tensor([0.5, 0.4, 0.3])
    d = (image - target.view(1, 3, 1, 1)).detach()
    norm = d.norm(dim=1).flatten()
    mask = _clip_mask(image, target, RenderConfig(clip_norm=0.2)).flatten()
    assert mask.sum() == 20 and norm[mask].max() < norm[~mask].min()
    contribution = (d * image.grad).sum(1).abs().flatten()
    mask = _clip_mask(image, target, RenderConfig(clip_contribution=0.1)).flatten()
    assert mask.sum() == 10 and contribution[mask].max() < contribution[~mask].min()


def test_the_priors_weaken_on_fourier_images_larger_than_prior_side():
    cfg = RenderConfig()
    assert cfg.prior_strength(28) == cfg.prior_strength(128) == (0.01, 0.5)  # as given up to 128 px
    assert cfg.prior_strength(256) == pytest.approx((0.0025, 0.25))  # decay·(128/S)², σ·128/S
    assert RenderConfig(param="pixels").prior_strength(256) == (0.01, 0.5)
    assert RenderConfig(prior_side=0).prior_strength(256) == (0.01, 0.5)
    # and render uses them: a 256-px image decays a quarter as fast as a 128-px one
    net = nn.Sequential(nn.Conv2d(3, 4, 3)).eval()
    for side, kept in ((128, 0.99), (256, 0.9975)):
        cfg = RenderConfig(steps=1, snapshots=(0,), transforms=False, blur_every=0, lr=0.0)
        res = render(net, objectives.channel("0", 0), (3, side, side), (0.5,) * 3, (0.25,) * 3, cfg)
        start, end = (torch.logit(torch.tensor(res.snapshots[s])) for s in (0, 1))
        torch.testing.assert_close(end, kept * start, atol=1e-5, rtol=1e-4)


def test_bad_render_settings_are_refused():
    from cnnlab.errors import CnnlabError

    bad_ones = ({"decay": 1.5}, {"blur_every": -1}, {"blur_sigma": 0.0}, {"batch": 0}, {"clip_norm": 1.0})
    for bad in bad_ones + ({"clip_contribution": -0.1}, {"clip_every": 0}):
        with pytest.raises(CnnlabError):
            RenderConfig(**bad)


def test_the_report_optimizes_each_channels_centre_unit_and_its_field_is_what_that_unit_sees():
    """``objectives.neurons`` is the centre unit of each image's channel, values and gradient: the
    input pixels that reach it are exactly the field ``centre_field`` outlines (LeNet-5's C3:
    the 14×14 square around the middle of the 10×10 map), checked by the input gradient."""
    from cnnlab.viz.report import centre_field

    torch.manual_seed(0)
    model = create("lenet5").eval()
    with torch.no_grad(), capture(model, ["C3"]) as acts:
        model(torch.randn(3, 1, 28, 28))
    img = torch.zeros(3, 1, 28, 28)
    got = objectives.neurons("C3", [5, 0, 9])(acts, img)
    assert got.tolist() == [acts["C3"][b, c, 5, 5].item() for b, c in enumerate([5, 0, 9])]
    assert got.tolist() == [objectives.neuron("C3", c)(acts, img)[b].item() for b, c in enumerate([5, 0, 9])]

    x = torch.rand(2, 1, 28, 28, requires_grad=True)
    with capture(model, ["C3"]) as acts:
        model(x)
    objectives.neurons("C3", [5, 9])(acts, x).sum().backward()
    field = centre_field(model, (1, 28, 28), "C3", (16, 10, 10))
    assert field == ((8, 22), (8, 22))
    for b in range(2):
        ys, xs = torch.nonzero(x.grad[b, 0]).T
        assert (int(ys.min()), int(ys.max()) + 1) == field[0] and (int(xs.min()), int(xs.max()) + 1) == field[1]


def _outlines(ax) -> list[tuple[float, float, float, float]]:
    from matplotlib.patches import Rectangle

    return [(p.get_x(), p.get_y(), p.get_width(), p.get_height()) for p in ax.patches if isinstance(p, Rectangle)]


def test_the_optimized_image_has_its_units_field_outlined():
    from cnnlab.viz.examples import TopExamples
    from cnnlab.viz.figures import pair_figure

    snaps = {s: np.full((1, 1, 28, 28), 0.5) for s in (0, 4, 48)}
    result = RenderResult(snaps, 0.0, 1.0)
    box = ((8, 22), (8, 22))
    fig = snapshots_figure(result, "t", field=box)
    assert [_outlines(ax) for ax in fig.axes] == [[(7.5, 7.5, 14, 14)]] * 3
    assert all(not _outlines(ax) for ax in snapshots_figure(result, "t").axes)  # no field: no outline

    top = TopExamples("C3", 5, list(range(9)), [1.0] * 9, [(0, 0)] * 9, None, [((-4, 10), (-4, 10))] * 9)
    shown = {i: torch.zeros(1, 28, 28, dtype=torch.uint8) for i in range(9)}
    fig = pair_figure(shown, top, result, "C3 channel 5", field=box)
    optimized = [ax for ax in fig.axes if ax.get_title().startswith("Optimization")]
    assert len(optimized) == 1 and _outlines(optimized[0]) == [(7.5, 7.5, 14, 14)]
    assert "centre unit" in optimized[0].get_title() and "step 48" in optimized[0].get_title()
    examples = [ax for ax in fig.axes if ax not in optimized]
    assert all(_outlines(ax) == [(-0.5, -0.5, 10, 10)] for ax in examples)  # clipped to the image
