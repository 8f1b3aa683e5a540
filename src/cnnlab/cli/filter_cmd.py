"""``cnnlab filter``: convolve an image with the lecture's filters (and others).

Kernels apply in the order given on the command line, ``-k`` and ``--kernel-file`` mixed:
the command records the order the parser saw them in (:class:`OrderedCommand`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Optional

import numpy as np
import typer
from typer.core import TyperCommand

from cnnlab import limits, outputs
from cnnlab.cli.app import MaxMemory, app
from cnnlab.cli.output import info
from cnnlab.errors import CnnlabError


class OrderedCommand(TyperCommand):
    """A command that keeps the order of its options as given (repeats included) in
    ``ctx.meta["param_order"]``; Click itself only keeps each option's values in order."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        _, _, order = self.make_parser(ctx).parse_args(args=list(args))
        ctx.meta["param_order"] = [p.name for p in order]
        return super().parse_args(ctx, args)


def in_given_order(ctx: Any, kernel: list[str], kernel_file: list[Path]) -> list[tuple[str, Any]]:
    """[("kernel", spec) | ("file", path)] in command-line order."""
    order = [n for n in ctx.meta.get("param_order", []) if n in ("kernel", "kernel_file")]
    if order.count("kernel") != len(kernel) or order.count("kernel_file") != len(kernel_file):
        order = ["kernel"] * len(kernel) + ["kernel_file"] * len(kernel_file)  # not parsed by Click (a library call)
    specs, files = iter(kernel), iter(kernel_file)
    return [("kernel", next(specs)) if n == "kernel" else ("file", next(files)) for n in order]


def kernel_side(spec: str) -> int:
    """The side of the kernel ``spec`` builds, checked to be finite, *before* it is built
    (``box:1000000`` would allocate 8 TB; ``gaussian:inf`` has no size at all)."""
    name, _, params = spec.partition(":")
    if not params or name not in ("box", "gaussian"):
        return 0
    try:
        values = [float(v) for v in params.split(":")]
    except ValueError:
        return 0  # get_kernel names the bad parameter
    if not all(math.isfinite(v) for v in values):
        raise CnnlabError(
            f"-k {spec}: kernel parameters must be finite numbers, e.g. gaussian:2, gaussian:2:9 or box:5"
        )
    if name == "box":
        return max(int(values[0]), 0)
    if len(values) == 2:
        return max(int(values[1]), 0)
    return 2 * math.ceil(3 * max(values[0], 0)) + 1 if values[0] > 0 else 0


def load_kernel(kind: str, value: Any):
    """One kernel from -k SPEC or --kernel-file FILE, with its size checked before it is built."""
    from cnnlab.conv.kernels import Kernel, get_kernel, load_kernel_file

    if kind == "kernel":
        side = kernel_side(value)
        limits.check(side * side * 8 * 3, f"-k {value} (a {side:,}×{side:,} kernel)", "use a smaller kernel")
        try:
            k = get_kernel(value)
        except (ValueError, OverflowError, ZeroDivisionError) as e:
            if isinstance(e, CnnlabError):
                raise
            raise CnnlabError(
                f"-k {value}: bad kernel parameters ({e}); use e.g. gaussian:2, gaussian:2:9 or box:5"
            ) from None
    elif Path(value).suffix == ".npy":
        k = _load_npy(Path(value), Kernel)
    else:
        k = load_kernel_file(str(value))
    if not np.isfinite(k.weights).all() or not np.isfinite(k.weights.sum()):
        raise CnnlabError(
            f"kernel {k.name} has NaN or infinite weights (a Gaussian's sigma must be at least about 0.05); "
            "use other parameters"
        )
    return k


def _load_npy(path: Path, kernel_cls):
    """A kernel from a .npy file: a 2-D array of real numbers (no pickles, no strings)."""
    if not path.is_file():
        raise CnnlabError(f"kernel file {path} not found")
    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)  # mapped, not read: size before loading
    except (ValueError, OSError, EOFError) as e:
        raise CnnlabError(f"kernel file {path} is not a readable .npy file ({e}); save it with numpy.save") from None
    if not isinstance(mapped, np.ndarray):
        raise CnnlabError(f"kernel file {path} holds several arrays; save one 2-D array with numpy.save")
    shape = "×".join(map(str, mapped.shape))
    limits.check(mapped.size * 8 * 3, f"--kernel-file {path} ({shape})", "use a smaller kernel")
    if mapped.dtype.kind not in "biuf":
        raise CnnlabError(
            f"kernel file {path} holds {mapped.dtype} values, not numbers; save a 2-D array of floats, "
            "e.g. numpy.save(path, numpy.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]], dtype=float))"
        )
    weights = np.array(mapped, dtype=np.float64)
    if weights.ndim != 2 or weights.size == 0 or not np.isfinite(weights).all():
        raise CnnlabError(
            f"kernel file {path} must hold a non-empty 2-D matrix of finite numbers, got shape {weights.shape}"
        )
    display = "signed" if abs(weights.sum()) < 1e-12 else "normalize"  # the rule of kernels.py
    return kernel_cls(path.stem, weights, f"custom kernel from {path.name}", display)


@app.command("filter", cls=OrderedCommand)
def filter_(
    ctx: typer.Context,
    image: Annotated[Optional[Path], typer.Argument(help="Any image Pillow reads (grayscale or colour).")] = None,
    kernel: Annotated[
        Optional[list[str]],
        typer.Option("--kernel", "-k", help="Kernel name (repeatable); see --list. gaussian:SIGMA[:SIZE], box:N."),
    ] = None,
    kernel_file: Annotated[
        Optional[list[Path]],
        typer.Option(help="Custom kernel: a .npy file or a text file of rows (repeatable) [none]."),
    ] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output PNG [required unless --list].")] = None,
    grid: Annotated[bool, typer.Option(help="One PNG: the original beside each kernel's result, labelled.")] = False,
    boundary: Annotated[str, typer.Option(help="Outside the image: reflect, replicate, circular or zero.")] = "reflect",
    list_: Annotated[bool, typer.Option("--list", help="List the kernels with their descriptions.")] = False,
    max_memory: MaxMemory = None,
) -> None:
    """Filter an image. Several kernels without --grid are applied one after another, in the
    order given. 16/32-bit and float images are read by their full range; transparency is
    composited over white; the EXIF orientation is applied.

    Example: cnnlab filter photo.png -k blur -k sharpen -k laplacian -k sobel-x --grid -o lecture.png
    """
    from cnnlab.conv.image import filter_image, load_image, save_grid, save_png
    from cnnlab.conv.kernels import KERNELS

    if list_:
        width = max(map(len, KERNELS))
        for k in KERNELS.values():
            rows = (
                " / ".join(" ".join(f"{v:g}" for v in row) for row in k.weights)
                if k.weights.shape[0] <= 3
                else f"{k.shape[0]}×{k.shape[1]}"
            )
            info(f"{k.name:<{width}}  {'[lecture] ' if k.lecture else ''}{k.description}  [{rows}]")
        return
    if image is None:
        raise CnnlabError("give an IMAGE to filter (or --list to see the kernels)")
    if out is None:
        raise CnnlabError("give an output file with -o OUT.png")
    outputs.output_file(out, "-o")
    kernels = [load_kernel(kind, v) for kind, v in in_given_order(ctx, kernel or [], kernel_file or [])]
    if not kernels:
        raise CnnlabError("give at least one --kernel NAME (or --kernel-file FILE); --list shows the kernels")
    pixels = load_image(image)
    if grid:
        save_grid(pixels, kernels, out, boundary)
    else:
        save_png(filter_image(pixels, kernels, boundary), out)
    info(f"wrote {out}")
