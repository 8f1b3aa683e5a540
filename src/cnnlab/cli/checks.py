"""Flag checks the commands share: one line naming the flag, before any work is done.

Numbers must be finite (``--lr nan`` is not a learning rate), counts at least their
minimum, seeds within what torch and numpy accept; sizes that set an allocation are
estimated against :mod:`cnnlab.limits` before anything is allocated.
"""

from __future__ import annotations

import contextlib
import io
import math
import sys
import urllib.error
from collections.abc import Iterator

from cnnlab import limits
from cnnlab.errors import CnnlabError

MAX_SEED = 2**63 - 1  # torch.manual_seed takes a signed 64-bit seed (numpy's default_rng takes any)
VIZ_BYTES_PER_VALUE = 8 * 3  # float64 tiles, the enlarged copy of each, and the grid they go into


def no_terminal() -> bool:
    """True when stderr is not a terminal: progress bars would only fill a log with carriage returns."""
    return not sys.stderr.isatty()


def finite(value: float, flag: str) -> None:
    if not math.isfinite(value):
        raise CnnlabError(f"{flag} must be a finite number, got {value}")


def finite_positive(value: float, flag: str) -> None:
    if not (math.isfinite(value) and value > 0):
        raise CnnlabError(f"{flag} must be a finite number above 0, got {value}; e.g. {flag} 0.05")


def at_least(value: int, minimum: int, flag: str) -> None:
    if value < minimum:
        raise CnnlabError(f"{flag} must be at least {minimum}, got {value}")


def seed(value: int, flag: str = "--seed") -> None:
    if not 0 <= value <= MAX_SEED:
        raise CnnlabError(f"{flag} must be between 0 and {MAX_SEED:,} (2^63 - 1), got {value}")


def port(value: int) -> None:
    if not 0 <= value <= 65535:
        raise CnnlabError(f"--port must be 1-65535 (or 0 for any free port), got {value}")


def features_size(model, input_shape: tuple[int, int, int], batch: int, snapshots, steps: int, scale: int) -> None:
    """`viz features`: the PNG (``viz.figures.snapshots_figure``: 1.45 inches per snapshot and per
    image of the batch at 100 dots per inch, times ``scale``) and the optimization (``batch``
    images through the model with gradients)."""
    from cnnlab.size.memory import activation_bytes

    c, h, w = input_shape
    shown = len({s for s in snapshots if 0 <= s <= steps} | {steps})
    height, width = round((1.45 * batch + 0.55) * 100 * scale), round((1.45 * shown + 0.5) * 100 * scale)
    what = f"--scale {scale} with --batch {batch} and {shown} snapshots (a {width:,}×{height:,} PNG)"
    limits.check_pixels(
        height, width, f"--scale {scale} with --batch {batch}: the PNG", "lower --scale, --batch or --snapshots"
    )
    limits.check(
        limits.image_bytes(height, width, 3, VIZ_BYTES_PER_VALUE), what, "lower --scale, --batch or --snapshots"
    )
    limits.check(
        3 * activation_bytes(model, input_shape, batch),  # forward, backward, transformed copies
        f"--batch {batch} ({batch:,} images of {c}×{h}×{w} through the model with gradients)",
        "lower --batch",
    )


def examples_size(k: int, input_shape: tuple[int, int, int]) -> None:
    """`viz examples -k`: two rows of k tiles, each the image at 3×."""
    c, h, w = input_shape
    height, width = 2 * (3 * h + 2) + 2, k * (3 * w + 2) + 2
    what = f"-k {k} (a {width:,}×{height:,} PNG)"
    limits.check_pixels(height, width, f"-k {k}: the PNG", "lower -k")
    limits.check(limits.image_bytes(height, width, 3, VIZ_BYTES_PER_VALUE), what, "lower -k")


@contextlib.contextmanager
def pretrained_weights(target: str, weights: str | None) -> Iterator[None]:
    """--weights is for torchvision's models, and downloading them can fail: one line each."""
    if weights is not None:
        from cnnlab.models import list_models
        from cnnlab.models.imagenet import TORCHVISION_NAMES

        if target in list_models() and target not in TORCHVISION_NAMES:
            raise CnnlabError(
                f"--weights {weights}: {target} has no pretrained weights (only {', '.join(TORCHVISION_NAMES)} do); "
                f"drop --weights, or train it with `cnnlab train --model {target}` and pass the run folder"
            )
    quiet_download = (
        contextlib.redirect_stderr(io.StringIO()) if weights and no_terminal() else contextlib.nullcontext()
    )
    try:
        with quiet_download:  # torch.hub's "Downloading: URL" line, in a log, is not the one line
            yield
    except (urllib.error.URLError, ConnectionError, TimeoutError) as e:  # offline, refused, timed out
        if weights is None:
            raise
        reason = e.reason if isinstance(e, urllib.error.URLError) else (e.strerror or e)
        raise CnnlabError(
            f"cannot download the pretrained {target} weights ({reason}); connect to the internet once "
            "(torchvision keeps them in ~/.cache/torch) or drop --weights"
        ) from None


RGB_DATASETS = ("cifar10", "cifar100", "imagefolder")


def resize_size(
    model: str, dataset: str, side: int, batch: int | None, batch_flag: str | None = "--batch-size"
) -> None:
    """`train --resize N` (and `eval --model M --resize N`, ``batch_flag`` None): a training step
    on N×N images (weights that grow with the input, the batch, the activations autograd keeps),
    estimated on the meta device; evaluation needs less, so this errs on the safe side."""
    from cnnlab.models import get_spec
    from cnnlab.size.memory import training_bytes
    from cnnlab.train.config import TrainConfig

    at_least(side, 1, "--resize")
    spec = get_spec(model)
    batch = batch or int(spec.recipe.get("batch_size", TrainConfig.batch_size))
    c = spec.input_shape[0] if spec.input_shape else (3 if dataset in RGB_DATASETS else 1)
    need = training_bytes(
        lambda: spec.build(num_classes=spec.num_classes, in_channels=c, input_size=(side, side)), (c, side, side), batch
    )
    if batch_flag is None:
        limits.check(need, f"--resize {side} ({batch} images at a time through {model})", "lower --resize")
    else:
        limits.check(need, f"--resize {side} with {batch_flag} {batch} ({model})", f"lower --resize or {batch_flag}")


def run_flags_agree(run_dir, **given) -> None:
    """`eval RUN --dataset/--test-subset/--resize`: a run is evaluated as it was trained, so a
    flag that asks for something else is refused instead of being silently ignored."""
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return
    from cnnlab.train.run_dir import RunDir

    cfg, _ = RunDir.open(run_dir).read_config()
    for name, value in given.items():
        stored = getattr(cfg, name)
        if value != stored and not (name != "dataset" and not value and not stored):
            flag = "--" + name.replace("_", "-")
            trained = f"with {flag} {stored}" if stored else f"without {flag}"
            raise CnnlabError(
                f"{flag} {value} disagrees with the run: {run_dir} was trained {trained} and is evaluated that way; "
                f"drop {flag} (to evaluate {flag} {value}, train a run with it)"
            )
