"""The top-examples figure's layout: the title and the tiles' captions never overlap (a one-row
figure for a fully connected unit, two rows with the field patches for a conv unit)."""

from __future__ import annotations

import pytest
import torch

from cnnlab.viz.examples import TopExamples
from cnnlab.viz.figures import examples_figure


@pytest.mark.parametrize("fields", [False, True])
def test_the_title_and_the_captions_do_not_overlap(fields):
    images = (torch.rand(20, 1, 28, 28) * 255).to(torch.uint8)
    boxes = [((4, 13), (6, 15))] * 9 if fields else None
    top = TopExamples(
        "fc" if not fields else "conv2",
        3,
        list(range(9)),
        [2.5 - 0.1 * k for k in range(9)],
        [(2, 3)] * 9 if fields else None,
        boxes,
        boxes,
    )
    fig = examples_figure(images, top, title="fc channel 3: top 9 test images")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # the axes take their drawn, aspect-kept places
    renderer = canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)  # pyright: ignore[reportOptionalMemberAccess]
    for ax in fig.axes:
        caption = ax.title.get_window_extent(renderer)
        if ax.get_title():
            assert not title.overlaps(caption), (title, caption)
        # no tile runs into another's caption or image either
        for other in fig.axes:
            if other is not ax:
                assert not ax.get_window_extent(renderer).overlaps(other.get_window_extent(renderer))
