"""``cnnlab viz report RUN_DIR -o DIR``: everything the lecture's "What do networks learn?"
shows, for a trained MNIST-like run, in one folder with an ``index.html``.

    filters.png                 first-layer weights (diverging colour map, colour bar)
    weights_<L>.png             every other weight layer; fully connected units in their input's layout
    examples_<L>_<c>.png        top-9 test images for channel c of conv layer L, field of the maximum
                                outlined, the patches below
    features_<L>_<c>.png        an image optimized from noise to excite the centre unit of channel c,
                                steps labelled, that unit's receptive field outlined
    unit_<L>_<c>.png            the two side by side (Distill's "Baseball—or stripes?" pair)
    units.html                  every unit's pair, layer by layer
    class_<k>.png               gradient ascent on each class logit, steps labelled
    saliency_<i>.png            a test digit, its gradient saliency and SmoothGrad
"""

from __future__ import annotations

import html
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from cnnlab import atomic
from cnnlab.data import ImageTensors
from cnnlab.errors import CnnlabError
from cnnlab.viz import images, objectives
from cnnlab.viz.examples import top_examples_many, unclipped_box
from cnnlab.viz.figures import Box, examples_figure, pair_figure, save, snapshots_figure
from cnnlab.viz.filters import WEIGHT_LAYERS, first_weight_layer, save_filter_grid
from cnnlab.viz.layers import capture
from cnnlab.viz.receptive_field import receptive_fields
from cnnlab.viz.render import DEFAULT_SNAPSHOTS, RenderConfig, RenderResult, render
from cnnlab.viz.saliency import saliency_figure
from cnnlab.viz.source import Subject, load_subject

REPORT_STEPS = 2048  # the lecture's last snapshot


def conv_layers(model: nn.Module) -> list[str]:
    """The conv layers (and LeNet-1998's partially connected C3), in definition order."""
    return [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d) or hasattr(m, "dense_weight")]


def examples_layer(model: nn.Module) -> str:
    """C3 if the model has one, else its second conv layer (or its first)."""
    if "C3" in dict(model.named_modules()):
        return "C3"
    convs = conv_layers(model)
    if not convs:
        raise CnnlabError(f"{type(model).__name__} has no conv layer for dataset examples")
    return convs[1] if len(convs) > 1 else convs[0]


def report_snapshots(steps: int) -> tuple[int, ...]:
    return tuple(sorted({s for s in DEFAULT_SNAPSHOTS if s < steps} | {steps}))


def _layer_shape(model: nn.Module, layer: str, data) -> tuple[int, ...]:
    """(C, H, W) of ``layer``'s output."""
    with torch.no_grad(), capture(model, [layer]) as acts:
        model(data.prepare(data.images[:1]))
    return tuple(acts[layer].shape[1:])


def centre_field(model: nn.Module, input_shape: tuple[int, ...], layer: str, map_shape: tuple[int, ...]) -> Box:
    """The receptive field ((y0, y1), (x0, x1)) of the unit ``objectives.neurons`` optimizes, the
    centre of ``layer``'s (C, H, W) map, unclipped (it may run past the border)."""
    field = receptive_fields(model, input_shape, [layer])[layer]
    (y0, y1), (x0, x1) = unclipped_box(field, (map_shape[1] // 2, map_shape[2] // 2))
    return (y0, y1), (x0, x1)


def _one(result: RenderResult, b: int) -> RenderResult:
    """Image ``b`` of a batched render, as a render of its own."""
    return RenderResult(
        {s: v[b : b + 1] for s, v in result.snapshots.items()}, result.start_value, result.end_value, [], 0.0
    )


def write_report(
    run_dir: str | Path, out: str | Path, steps: int = REPORT_STEPS, log=print, max_channels: int = 64
) -> Path:
    if steps < 1:
        raise CnnlabError(f"--steps must be at least 1, got {steps}")
    subject = load_subject(str(run_dir))
    if subject.run is None:
        raise CnnlabError("viz report needs a run folder from `cnnlab train` (it uses the run's dataset)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _, test = subject.run.data()  # fed as the run was trained (--resize included)
    if not isinstance(test, ImageTensors):
        raise CnnlabError(
            "viz report searches test images held in memory (MNIST, Fashion-MNIST, CIFAR runs); an image-folder run is not supported"
        )
    model = subject.model.eval()
    sections: list[tuple[str, str, list[tuple[str, str]]]] = []
    snaps = report_snapshots(steps)
    cfg = RenderConfig(steps=steps, snapshots=snaps)

    first = first_weight_layer(model)
    caption = save_filter_grid(model, out / "filters.png", subject.input_shape, title=subject.name)
    figs = [("filters.png", caption)]
    for name, m in model.named_modules():
        if name and name != first and isinstance(m, WEIGHT_LAYERS) and getattr(m, "weight", None) is not None:
            file = f"weights_{name}.png"
            figs.append((file, save_filter_grid(model, out / file, subject.input_shape, name, title=subject.name)))
    sections.append(
        (
            "Weights",
            "Each layer's weights on one diverging colour map (blue negative, white zero, red positive). "
            "First-layer filters can be read directly; fully connected units are drawn in the layout of "
            "their input (F5: the 16 maps of S4).",
            figs,
        )
    )
    log(f"wrote {len(figs)} weight images")

    units_html: list[tuple[str, list[tuple[str, str]]]] = []
    for layer in conv_layers(model):
        shape = _layer_shape(model, layer, test)
        count = shape[0]
        channels = list(range(min(count, max_channels)))
        if count > max_channels:
            log(f"{layer} has {count} channels: showing the first {max_channels}")
        tops = top_examples_many(model, test, layer, channels, k=9)
        # The centre unit of each channel, not the channel's mean: a dataset example is one
        # position's field, so the optimized image must be too (a channel mean on MNIST draws
        # blobs at the border, where no digit is; issue 13).
        field = centre_field(model, subject.input_shape, layer, shape)
        result = render(
            model,
            objectives.neurons(layer, channels),
            subject.input_shape,
            subject.mean,
            subject.std,
            # Lucid's transforms scaled to the image (pad 2, jitter 1, ±5° at 28 px), not the
            # strong small-image ones made for whole-digit class images: those move the image up
            # to 6 px, a third of a C3 field (14 px), and smear the unit's stroke into a blob.
            replace(cfg, batch=len(channels), small_transforms=False),
        )
        pairs = []
        for b, (c, top) in enumerate(zip(channels, tops)):
            mine = _one(result, b)
            shown = {i: test.pixels(i) * 255 for i in top.indices}  # as the model saw them
            label = f"{layer} channel {c}"
            save(
                examples_figure(shown, top, f"{label}: top {len(top.indices)} test images (activation)"),
                out / f"examples_{layer}_{c}.png",
            )
            save(
                snapshots_figure(mine, f"{label}, centre unit: optimized from noise (its field outlined)", field=field),
                out / f"features_{layer}_{c}.png",
            )
            save(pair_figure(shown, top, mine, label, field=field), out / f"unit_{layer}_{c}.png")
            pairs.append((f"unit_{layer}_{c}.png", label))
        units_html.append((layer, pairs))
        log(f"wrote dataset examples and feature visualizations for {len(channels)} channels of {layer}")
    layer = examples_layer(model)
    sections.append(
        (
            f"Dataset examples and optimization, {layer}",
            "Left, the test images that activate each channel most (the receptive field of the maximum "
            "outlined); right, an image optimized from noise to excite the channel's centre unit (its "
            "receptive field outlined; the unit sees nothing outside it). Correlation, not cause: where the two disagree, the optimized image shows what "
            "the unit responds to. Every conv layer's units: units.html.",
            [(f, c) for lay, pairs in units_html if lay == layer for f, c in pairs],
        )
    )

    n_classes = len(subject.classes or range(10))
    result = render(
        model,
        objectives.class_logits(list(range(n_classes))),
        subject.input_shape,
        subject.mean,
        subject.std,
        replace(cfg, batch=n_classes),
    )
    figs = []
    for k in range(n_classes):
        label = subject.classes[k] if subject.classes else str(k)
        name = f"class_{k}.png"
        save(snapshots_figure(_one(result, k), f"class {label}: gradient ascent on its logit"), out / name)
        figs.append((name, f"class {label}"))
    sections.append(
        (
            "Feature visualization of each class",
            "Gradient ascent on each output logit from faint noise (Fourier parameterization, transformation "
            "robustness, blur and decay toward the data mean), at steps " + ", ".join(map(str, snaps)) + ".",
            figs,
        )
    )
    log(f"wrote {n_classes} class visualizations")

    figs = []
    for i in range(6):
        pic, pred, _ = saliency_figure(model, test, i)
        name = f"saliency_{i}.png"
        images.save_png(pic, out / name)
        figs.append(
            (
                name,
                f"test digit {i} (label {int(test.labels[i])}, predicted {pred}): the image, the gradient of the "
                f"predicted class's logit, SmoothGrad (25 noisy copies)",
            )
        )
    sections.append(("Saliency", "Which pixels the predicted class's score is most sensitive to.", figs))
    log("wrote saliency maps")

    atomic.write_text(out / "units.html", _units_html(subject, units_html))
    page = out / "index.html"
    atomic.write_text(page, _html(subject, sections))
    log(f"wrote {page} and {out / 'units.html'}")
    return page


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
figure { display: inline-block; margin: 0.6em; vertical-align: top; max-width: 100%; }
img { image-rendering: pixelated; max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.8em; color: #555; max-width: 520px; }
nav a { margin-right: 1em; }
"""

_LOADED = """<script>
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.imagesLoaded = ok + "/" + imgs.length;
});
</script>"""


def _figures(figs) -> str:
    return "".join(
        f'<figure><img src="{html.escape(src)}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for src, caption in figs
    )


def _units_html(subject: Subject, layers) -> str:
    nav = " ".join(f'<a href="#{html.escape(lay)}">{html.escape(lay)}</a>' for lay, _ in layers)
    body = "".join(f'<h2 id="{html.escape(lay)}">{html.escape(lay)}</h2>{_figures(pairs)}' for lay, pairs in layers)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Units of {html.escape(subject.name)}</title>
<style>{_STYLE}</style></head>
<body data-images-loaded="pending">
<h1>Dataset examples or optimization? Every unit of {html.escape(subject.name)}</h1>
<p>The lecture's "Baseball—or stripes?": for each channel, the test images that excite it most (left, the
receptive field of the strongest position outlined) and an image optimized from noise to excite the unit at
the centre of the channel's map (right, that unit's receptive field outlined). Both show one field: the unit sees
nothing outside the outline, so only what lies inside it counts (the glow around it comes from the Fourier
parameterization and the random jitter of a pixel or two; C1's 5×5 fields are little more than that).
<a href="index.html">Back to the report</a>.</p>
<nav>{nav}</nav>
{body}
{_LOADED}
</body></html>
"""


def _html(subject: Subject, sections) -> str:
    body = "".join(
        f"<h2>{html.escape(title)}</h2><p>{html.escape(intro)}</p>{_figures(figs)}" for title, intro, figs in sections
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>What {html.escape(subject.name)} learned</title>
<style>{_STYLE}</style></head>
<body data-images-loaded="pending">
<h1>What {html.escape(subject.name)} learned</h1>
<p>Lecture 9, "What do networks learn?": weights, the dataset examples that activate units most,
images optimized from noise to excite a unit, and input gradients. <a href="units.html">Every unit</a>.</p>
{body}
{_LOADED}
</body></html>
"""
