"""``cnnlab filter``: convolve an image with the lecture's filters (and others)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnlab.cli.app import app
from cnnlab.cli.output import info
from cnnlab.errors import CnnlabError


@app.command("filter")
def filter_(
    image: Annotated[Optional[Path], typer.Argument(help="Any image Pillow reads (grayscale or colour).")] = None,
    kernel: Annotated[
        Optional[list[str]],
        typer.Option("--kernel", "-k", help="Kernel name (repeatable); see --list. gaussian:SIGMA[:SIZE], box:N."),
    ] = None,
    kernel_file: Annotated[
        Optional[list[Path]], typer.Option(help="Custom kernel: a .npy file or a text file of rows (repeatable).")
    ] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output PNG.")] = None,
    grid: Annotated[bool, typer.Option(help="One PNG: the original beside each kernel's result, labelled.")] = False,
    boundary: Annotated[str, typer.Option(help="Outside the image: reflect, replicate, circular or zero.")] = "reflect",
    list_: Annotated[bool, typer.Option("--list", help="List the kernels with their descriptions.")] = False,
) -> None:
    """Filter an image. Several kernels without --grid are applied one after another.

    Example: cnnlab filter photo.png -k blur -k sharpen -k laplacian -k sobel-x --grid -o lecture.png
    """
    from cnnlab.conv.image import filter_image, load_image, save_grid, save_png
    from cnnlab.conv.kernels import KERNELS, get_kernel, load_kernel_file

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
    kernels = [get_kernel(k) for k in kernel or []] + [load_kernel_file(str(f)) for f in kernel_file or []]
    if not kernels:
        raise CnnlabError("give at least one --kernel NAME (or --kernel-file FILE); --list shows the kernels")
    pixels = load_image(image)
    if grid:
        save_grid(pixels, kernels, out, boundary)
    else:
        save_png(filter_image(pixels, kernels, boundary), out)
    info(f"wrote {out}")
