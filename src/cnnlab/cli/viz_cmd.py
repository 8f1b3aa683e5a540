"""``cnnlab viz``: what networks learn, as PNGs (lecture 9, "What do networks learn?")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnlab import outputs
from cnnlab.cli import checks
from cnnlab.cli.app import MaxMemory, app
from cnnlab.cli.output import info, print_json
from cnnlab.errors import CnnlabError

viz_app = typer.Typer(
    help="Filters, dataset examples, feature visualization and saliency, as PNGs.", no_args_is_help=True
)
app.add_typer(viz_app, name="viz")

Target = Annotated[
    str, typer.Argument(help="A run folder from `cnnlab train`, or a model name (random weights unless --weights).")
]
Weights = Annotated[
    Optional[str], typer.Option(help="Pretrained torchvision weights for a model name, e.g. DEFAULT [random weights].")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no messages (errors still show).")]


def _subject(target: str, weights: str | None):
    from cnnlab.viz.source import load_subject

    with checks.pretrained_weights(target, weights):
        return load_subject(target, weights)


def _parse_ints(text: str, what: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise CnnlabError(f"{what} {text!r} must be comma-separated integers, e.g. 0,4,48,2048") from None


@viz_app.command()
def layers(target: Target, weights: Weights = None, json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the layers (module names) that --layer accepts, with output shapes."""
    from cnnlab.viz.layers import layer_table

    s = _subject(target, weights)
    rows = layer_table(s.model, s.input_shape)
    if json_out:
        print_json(rows)
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        shape = "×".join(map(str, r["output_shape"])) or "-"
        info(f"{r['name']:<{width}}  {r['type']:<20} {shape:>14}  {r['params']:>10,} params")


@viz_app.command()
def filters(
    target: Target,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output PNG.")],
    layer: Annotated[
        Optional[str], typer.Option(help="Layer to show [the first conv / fully connected layer].")
    ] = None,
    weights: Weights = None,
    quiet: Quiet = False,
) -> None:
    """First-layer (or --layer) weights as images."""
    from cnnlab.viz.filters import save_filter_grid

    outputs.output_file(out, "-o")
    s = _subject(target, weights)
    caption = save_filter_grid(s.model, out, s.input_shape, layer, title=s.name)
    if not quiet:
        info(f"wrote {out} ({caption})")


@viz_app.command()
def examples(
    run_dir: Annotated[Path, typer.Argument(help="A run folder from `cnnlab train`.")],
    layer: Annotated[str, typer.Option(help="Layer name (cnnlab viz layers RUN_DIR).")],
    channel: Annotated[int, typer.Option(help="Channel (feature map) of the layer.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output PNG.")],
    k: Annotated[int, typer.Option("-k", help="How many examples.")] = 9,
    position: Annotated[
        Optional[str], typer.Option(help="A unit's position y,x in the map [the maximum anywhere].")
    ] = None,
    split: Annotated[str, typer.Option(help="train or test.")] = "test",
    quiet: Quiet = False,
    max_memory: MaxMemory = None,
) -> None:
    """The dataset images that activate a unit most, with the receptive-field patch of the maximum."""
    from cnnlab.data import ImageTensors
    from cnnlab.viz.examples import top_examples
    from cnnlab.viz.figures import examples_figure, save

    outputs.output_file(out, "-o")
    checks.at_least(k, 1, "-k")
    s = _subject(str(run_dir), None)
    if s.run is None:
        raise CnnlabError("viz examples needs a run folder from `cnnlab train` (it searches the run's dataset)")
    checks.examples_size(k, s.input_shape)
    if split not in ("train", "test"):
        raise CnnlabError(f"--split must be train or test, got {split!r}")
    train, test = s.run.data()  # fed as the run was trained (--resize included)
    data = train if split == "train" else test
    if not isinstance(data, ImageTensors):
        raise CnnlabError(
            "viz examples searches images held in memory (MNIST, Fashion-MNIST, CIFAR runs); an image-folder run is not supported"
        )
    pos = _parse_ints(position, "--position") if position else None
    if pos is not None and len(pos) != 2:
        raise CnnlabError(f"--position must be Y,X (two integers), got {position!r}")
    if k > len(data):
        raise CnnlabError(f"-k {k} is more than the {len(data):,} {split} images; use -k {len(data)} or fewer")
    top = top_examples(s.model, data, layer, channel, k, (pos[0], pos[1]) if pos else None)
    where = f" at {pos}" if pos else ""
    save(
        examples_figure(
            {i: data.pixels(i) * 255 for i in top.indices},  # as the model saw them (--resize included)
            top,
            f"{layer} channel {channel}{where}: top {len(top.indices)} {split} images",
        ),
        out,
    )
    if not quiet:
        info(
            f"wrote {out}: top {len(top.indices)} {split} images for {layer} channel {channel}: indices {top.indices}, "
            f"activations {', '.join(f'{v:.3f}' for v in top.values)}"
            + (f"; maxima at {top.locations}" if top.locations else "")
        )


@viz_app.command()
def features(
    target: Target,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output PNG (the snapshots, labelled with their steps).")],
    layer: Annotated[Optional[str], typer.Option(help="Layer for --channel / --neuron / --deepdream [none].")] = None,
    channel: Annotated[Optional[int], typer.Option(help="Maximize this channel's mean activation [none].")] = None,
    neuron: Annotated[Optional[int], typer.Option(help="Maximize the centre unit of this channel [none].")] = None,
    deepdream: Annotated[bool, typer.Option(help="Maximize the whole layer (mean square activation).")] = False,
    class_: Annotated[Optional[int], typer.Option("--class", help="Maximize this class logit [none].")] = None,
    steps: Annotated[int, typer.Option(help="Optimization steps.")] = 512,
    snapshots: Annotated[str, typer.Option(help="Steps to show, comma-separated.")] = "0,4,48,2048",
    param: Annotated[str, typer.Option(help="fourier or pixels.")] = "fourier",
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 0.05,
    batch: Annotated[int, typer.Option(help="Images optimized together.")] = 1,
    diversity: Annotated[float, typer.Option(help="Weight of the diversity term (batch ≥ 2).")] = 0.0,
    tv: Annotated[float, typer.Option(help="Weight of the total-variation penalty.")] = 0.0,
    l1: Annotated[float, typer.Option(help="Weight of the L1 penalty.")] = 0.0,
    no_transforms: Annotated[bool, typer.Option("--no-transforms", help="No transformation robustness.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    weights: Weights = None,
    scale: Annotated[int, typer.Option(help="Resolution of the PNG, times the default (100 dots per inch).")] = 1,
    quiet: Quiet = False,
    max_memory: MaxMemory = None,
) -> None:
    """Feature visualization: an image optimized from noise to excite a unit, with snapshots."""
    import torch
    from tqdm import tqdm

    from cnnlab.viz import objectives
    from cnnlab.viz.figures import save, snapshots_figure
    from cnnlab.viz.render import RenderConfig, check_objective_target, render

    outputs.output_file(out, "-o")
    checks.finite_positive(lr, "--lr")
    checks.at_least(steps, 1, "--steps")
    checks.at_least(batch, 1, "--batch")
    checks.at_least(scale, 1, "--scale")
    checks.seed(seed)
    for value, flag in ((diversity, "--diversity"), (tv, "--tv"), (l1, "--l1")):
        checks.finite(value, flag)
    s = _subject(target, weights)
    kept = _parse_ints(snapshots, "--snapshots")
    checks.features_size(s.model, s.input_shape, batch, kept, steps, scale)
    chosen = sum(v is not None for v in (channel, neuron, class_)) + int(deepdream)
    if chosen != 1:
        raise CnnlabError("choose exactly one of --channel C, --neuron C, --deepdream (all with --layer) or --class K")
    if class_ is None and layer is None:
        raise CnnlabError("--channel, --neuron and --deepdream need --layer NAME (`cnnlab viz layers` lists them)")
    if class_ is not None:
        obj = objectives.class_logit(class_)
        with torch.no_grad():
            n = s.model.eval()(torch.zeros(1, *s.input_shape)).shape[1]
        if not 0 <= class_ < n:
            raise CnnlabError(f"--class {class_} is out of range: the model has {n} classes (0-{n - 1})")
    elif deepdream:
        assert layer is not None  # checked above
        obj = objectives.deepdream(layer)
    else:
        c = channel if channel is not None else neuron
        assert layer is not None and c is not None  # checked above
        check_objective_target(s.model, s.input_shape, layer, c)
        obj = objectives.channel(layer, c) if channel is not None else objectives.neuron(layer, c)
    if diversity:
        if batch < 2:
            raise CnnlabError("--diversity needs --batch 2 or more")
        obj = obj + diversity * objectives.diversity(layer or next(n for n, _ in s.model.named_modules() if n))
    if tv:
        obj = obj - tv * objectives.total_variation()
    if l1:
        obj = obj - l1 * objectives.l1()
    cfg = RenderConfig(
        steps=steps,
        lr=lr,
        snapshots=kept,
        batch=batch,
        param=param,
        transforms=not no_transforms,
        seed=seed,
    )
    with tqdm(total=steps, unit="step", desc=obj.name, leave=False, disable=quiet or checks.no_terminal()) as bar:
        result = render(
            s.model,
            obj,
            s.input_shape,
            s.mean,
            s.std,
            cfg,
            progress=lambda i, v: (bar.update(1), bar.set_postfix(objective=f"{v:.3f}", refresh=False)),
        )
    fig = snapshots_figure(result, f"{s.name}: {obj.name}")
    fig.set_dpi(fig.dpi * scale)
    save(fig, out)
    if not quiet:
        info(
            f"wrote {out}: {obj.name}, objective {result.start_value:.3f} → {result.end_value:.3f} in {steps} steps "
            f"({steps / max(result.seconds, 1e-9):.1f} steps/s); snapshots at steps {sorted(result.snapshots)}"
        )


@viz_app.command()
def saliency(
    run_dir: Annotated[Path, typer.Argument(help="A run folder from `cnnlab train`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output PNG.")],
    index: Annotated[int, typer.Option(help="Test image index.")] = 0,
    class_: Annotated[
        Optional[int], typer.Option("--class", help="Class whose score to explain [the predicted one].")
    ] = None,
    smoothgrad: Annotated[int, typer.Option(help="Noisy copies for SmoothGrad (0: plain gradient only).")] = 25,
    quiet: Quiet = False,
) -> None:
    """The gradient of a class score with respect to the input, and SmoothGrad, as an overlay PNG."""
    from cnnlab.data import ImageTensors
    from cnnlab.viz.saliency import saliency_picture

    outputs.output_file(out, "-o")
    checks.at_least(smoothgrad, 0, "--smoothgrad")
    s = _subject(str(run_dir), None)
    if s.run is None:
        raise CnnlabError("viz saliency needs a run folder from `cnnlab train`")
    _, test = s.run.data()  # fed as the run was trained (--resize included)
    if not isinstance(test, ImageTensors):
        raise CnnlabError(
            "viz saliency takes test images held in memory (MNIST, Fashion-MNIST, CIFAR runs); an image-folder run is not supported"
        )
    if not 0 <= index < len(test):
        raise CnnlabError(f"--index {index} is out of range: the test set has {len(test)} images (0-{len(test) - 1})")
    pic, pred, target = saliency_picture(s.model, test, index, class_, smooth=smoothgrad)
    pic.save(out, overwrite=True)  # -o names the file to write, as every viz command's does (checked above)
    if not quiet:
        info(
            f"wrote {out}: test image {index} (label {int(test.labels[index])}, predicted {pred}), saliency of class {target}"
        )


@viz_app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder from `cnnlab train` (MNIST or Fashion-MNIST).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    steps: Annotated[int, typer.Option(help="Gradient-ascent steps per unit and class.")] = 2048,
    quiet: Quiet = False,
    max_memory: MaxMemory = None,
) -> None:
    """Filters, top-9 examples per channel, class visualizations and saliency, with an index.html."""
    from cnnlab.viz.report import write_report

    checks.at_least(steps, 1, "--steps")  # before any file is written
    outputs.output_dir(out, "-o")
    page = write_report(run_dir, out, steps=steps, log=(lambda m: None) if quiet else info)
    if not quiet:
        info(f"open {page}")
