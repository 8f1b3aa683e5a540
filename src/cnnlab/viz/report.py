"""``cnnlab viz report RUN_DIR -o DIR``: everything the lecture's "What do networks learn?"
shows, for a trained MNIST-like run, in one folder with an ``index.html``.

    filters.png            first-layer weights
    examples_<L>_<c>.png   top-9 test images for each channel c of layer L (C3 for LeNet-5),
                           outlined at the receptive field of the maximum, with the patches
    class_<k>.png          gradient ascent on each class logit, snapshots left to right
    saliency_<i>.png       a test digit, its gradient saliency and SmoothGrad
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cnnlab import atomic
from cnnlab.data import load_dataset
from cnnlab.errors import CnnlabError
from cnnlab.viz import images, objectives
from cnnlab.viz.examples import crop, top_examples
from cnnlab.viz.filters import save_filter_grid
from cnnlab.viz.render import RenderConfig, render, strip
from cnnlab.viz.saliency import saliency_figure
from cnnlab.viz.source import Subject, load_subject

REPORT_STEPS = 256


def examples_layer(model: nn.Module) -> str:
    """C3 if the model has one, else its second conv layer (or its first)."""
    names = dict(model.named_modules())
    if "C3" in names:
        return "C3"
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d) or getattr(m, "dense_weight", None)]
    if not convs:
        raise CnnlabError(f"{type(model).__name__} has no conv layer for dataset examples")
    return convs[1] if len(convs) > 1 else convs[0]


def outline(img: np.ndarray, box) -> np.ndarray:
    """A grey image as RGB with the receptive-field box drawn in red."""
    rgb = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img.copy()
    (y0, y1), (x0, x1) = box
    red = np.array([1.0, 0.1, 0.1])
    rgb[y0, x0:x1] = rgb[y1 - 1, x0:x1] = red
    rgb[y0:y1, x0] = rgb[y0:y1, x1 - 1] = red
    return rgb


def _fit(patch: np.ndarray, tile: int) -> np.ndarray:
    """A receptive-field patch enlarged by a whole factor to at most ``tile`` pixels, padded white."""
    f = max(1, tile // max(patch.shape))
    big = images.upscale(patch, f)
    return np.pad(big, ((0, tile - big.shape[0]), (0, tile - big.shape[1])), constant_values=1.0)


def write_report(run_dir: str | Path, out: str | Path, steps: int = REPORT_STEPS, log=print) -> Path:
    subject = load_subject(str(run_dir))
    if subject.dataset is None:
        raise CnnlabError("viz report needs a run folder from `cnnlab train` (it uses the run's dataset)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _, test = load_dataset(subject.dataset, subject.data_dir, quiet=True)
    model = subject.model.eval()
    sections: list[tuple[str, str, list[tuple[str, str]]]] = []

    caption = save_filter_grid(model, out / "filters.png", subject.input_shape, title=subject.name)
    sections.append(
        ("First-layer filters", "The weights of the first layer as images (0 = grey).", [("filters.png", caption)])
    )
    log(f"wrote {out / 'filters.png'}")

    layer = examples_layer(model)
    with torch.no_grad():
        probe = {}
        h = dict(model.named_modules())[layer].register_forward_hook(lambda m, i, o: probe.setdefault("o", o))
        model(test.subset(slice(0, 1)).normalize(test.images[:1]))
        h.remove()
    channels = probe["o"].shape[1]
    figs = []
    for c in range(channels):
        top = top_examples(model, test, layer, c, k=9)
        tile = 3 * test.shape[1]  # every tile the same size: the 28×28 digit at 3×
        full = [
            images.upscale(
                outline(test.images[i, 0].float().numpy() / 255, box)
                if box
                else test.images[i, 0].float().numpy() / 255,
                3,
            )
            for i, box in zip(top.indices, top.boxes or [None] * len(top.indices))
        ]
        patches = (
            [_fit(crop(test.images[i], box)[0].float().numpy() / 255, tile) for i, box in zip(top.indices, top.boxes)]
            if top.boxes
            else []
        )
        pic = images.grid(full + patches, cols=9, pad=2)
        name = f"examples_{layer}_{c}.png"
        images.save_png(pic, out / name)
        figs.append(
            (
                name,
                f"{layer} channel {c}: top 9 test images (activation {top.values[0]:.2f} … {top.values[-1]:.2f}), "
                f"receptive field of the maximum outlined{', patches below' if patches else ''}",
            )
        )
    sections.append(
        (
            f"Dataset examples for {layer}",
            "The test images that activate each channel most. Correlation, not cause: "
            "the feature visualizations below show what the network responds to.",
            figs,
        )
    )
    log(f"wrote {channels} dataset-example images")

    figs = []
    n_classes = len(subject.classes or range(10))
    for k in range(n_classes):
        result = render(
            model,
            objectives.class_logit(k) - 1e-1 * objectives.total_variation(),
            subject.input_shape,
            subject.mean,
            subject.std,
            RenderConfig(steps=steps, snapshots=(0, 4, 48, steps), seed=k),
        )
        name = f"class_{k}.png"
        images.save_png(strip(result, scale=4), out / name)
        label = subject.classes[k] if subject.classes else str(k)
        figs.append(
            (
                name,
                f"class {label}: logit {result.start_value:.2f} → {result.end_value:.2f} (steps {', '.join(map(str, sorted(result.snapshots)))})",
            )
        )
    sections.append(
        (
            "Feature visualization of each class",
            "Gradient ascent on each output logit from noise "
            "(Fourier parameterization, transformation robustness, total-variation penalty).",
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

    page = out / "index.html"
    atomic.write_text(page, _html(subject, sections))
    log(f"wrote {page}")
    return page


def _html(subject: Subject, sections) -> str:
    body = []
    for title, intro, figs in sections:
        body.append(f"<h2>{html.escape(title)}</h2><p>{html.escape(intro)}</p>")
        for src, caption in figs:
            body.append(
                f'<figure><img src="{html.escape(src)}" alt="{html.escape(caption)}"><figcaption>{html.escape(caption)}</figcaption></figure>'
            )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>What {html.escape(subject.name)} learned</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
figure {{ display: inline-block; margin: 0.6em; vertical-align: top; max-width: 100%; }}
img {{ image-rendering: pixelated; max-width: 100%; border: 1px solid #ddd; }}
figcaption {{ font-size: 0.8em; color: #555; max-width: 520px; }}
</style></head>
<body data-images-loaded="pending">
<h1>What {html.escape(subject.name)} learned</h1>
<p>Lecture 9, "What do networks learn?": first-layer weights, the dataset examples that activate units most,
images optimized from noise to excite a unit, and input gradients.</p>
{chr(10).join(body)}
<script>
window.addEventListener("load", () => {{
  const imgs = Array.from(document.images);
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.imagesLoaded = ok + "/" + imgs.length;
}});
</script>
</body></html>
"""
