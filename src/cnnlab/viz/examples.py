"""The dataset examples that activate a unit most (lecture 9: "pick the images and locations
in the training set which activate a unit most strongly").

The dataset is streamed in batches keeping only a running top-k, so memory stays bounded on
60,000+ images. For conv units the location of the maximum is kept too, and the image patch
under the unit's receptive field at that location can be cropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from cnnlab.data.memory import ImageTensors
from cnnlab.errors import CnnlabError
from cnnlab.viz.layers import capture, check_channel
from cnnlab.viz.receptive_field import receptive_fields

if TYPE_CHECKING:
    from cnnlab.display import Picture
    from cnnlab.viz.render import RenderResult


@dataclass(frozen=True)
class TopExamples:
    """What :func:`top_examples` finds; in a notebook it shows the images, the receptive
    field of the maximum outlined and each image's activation under it, and below the patch
    under that field. ``picture()`` is that view, ``figure()`` the matplotlib figure of
    ``cnnlab viz examples``."""

    layer: str
    channel: int
    indices: list[int]  # dataset indices, strongest first
    values: list[float]  # the unit's activation for each
    locations: list[tuple[int, ...]] | None  # (y, x) of the maximum, for conv units
    boxes: list[tuple[tuple[int, int], ...]] | None  # receptive-field box at that location, clipped to the image
    fields: list[tuple[tuple[int, int], ...]] | None = None  # the same boxes unclipped (may run past the border)
    # the images as the model saw them, (C, H, W) in [0, 1], for pictures (None: not kept)
    images: list[torch.Tensor] | None = field(default=None, repr=False, compare=False)

    def picture(self, title: str | None = None) -> Picture:
        """The examples (Pillow only): each labelled with its index and activation, the field
        outlined; a second row with the patch under it, enlarged."""
        from cnnlab.display import Picture, compose, to_rgb
        from cnnlab.viz.figures import padded_patch

        full = self._full()
        tiles = [to_rgb(img, signed=False, peak=1.0) for img in full]
        labels = [f"#{i}\n{v:.3g}" for i, v in zip(self.indices, self.values)]
        boxes: list = list(self.fields) if self.fields else [None] * len(tiles)
        if self.fields:
            h, w = tiles[0].shape[:2]
            for img, box in zip(full, self.fields):
                patch = padded_patch(img, (box[0], box[1]))  # ((y0, y1), (x0, x1))
                k = max(1, min(h // patch.shape[0], w // patch.shape[1]))
                tiles.append(to_rgb(np.kron(patch, np.ones((k, k, 1))), signed=False, peak=1.0))
                labels.append("field")
                boxes.append(None)
        if title is None:
            title = f"{self.layer} channel {self.channel}: top {len(self.indices)} (activation)"
        return Picture(compose(tiles, labels, title, cols=len(self.indices), boxes=boxes), title)

    def figure(self, title: str = "") -> Picture:
        """The matplotlib figure ``cnnlab viz examples`` writes (needs the ``plot`` extra)."""
        from cnnlab.viz.figures import examples_figure, picture

        self._full()  # fails clearly when the images were not kept
        shown = {i: img * 255 for i, img in zip(self.indices, self.images or [])}
        return picture(examples_figure(shown, self, title), title)

    def beside(self, result: RenderResult, title: str = "", field=None) -> Picture:
        """Distill's comparison for this unit ("Baseball—or stripes?"): the top dataset
        examples (3×3, fields outlined) beside ``result``, the image optimized from noise to
        excite the same unit, with ``field`` (the optimized unit's receptive field, as
        ``unclipped_box`` gives it) outlined on it (needs the ``plot`` extra)."""
        from cnnlab.viz.figures import pair_figure, picture

        self._full()
        shown = {i: img * 255 for i, img in zip(self.indices, self.images or [])}
        fig = pair_figure(shown, self, result, title, field=field)
        return picture(fig, title or f"{self.layer} channel {self.channel}")

    def _full(self) -> list[np.ndarray]:
        from cnnlab.viz.images import chw_to_hwc

        if self.images is None:
            raise CnnlabError(
                "these examples kept no images; find them with top_examples(model, data, ...) to show them"
            )
        return [chw_to_hwc(img.float().cpu().numpy()) for img in self.images]

    def _repr_png_(self) -> bytes:
        return self.picture().png()


@torch.no_grad()
def top_examples(
    model: nn.Module,
    data: ImageTensors,
    layer: str,
    channel: int,
    k: int = 9,
    position: tuple[int, int] | None = None,
    batch_size: int = 500,
) -> TopExamples:
    """The k dataset examples with the largest activation of ``layer``'s ``channel`` (at
    ``position``, or anywhere in the map). The result shows the images in a notebook, the
    receptive field of each maximum outlined.

    >>> from cnnlab.data import ImageTensors
    >>> from cnnlab.models import create
    >>> g = torch.Generator().manual_seed(0)
    >>> data = ImageTensors(torch.randint(0, 256, (20, 1, 28, 28), dtype=torch.uint8, generator=g),
    ...                     torch.zeros(20, dtype=torch.long), (0.5,), (0.25,), tuple("0123456789"))
    >>> top = top_examples(create("lenet5"), data, "C3", 0, k=3)
    >>> len(top.indices), top.values == sorted(top.values, reverse=True), top.fields[0][0][1] - top.fields[0][0][0]
    (3, True, 14)
    """
    return top_examples_many(model, data, layer, [channel], k, position, batch_size)[0]


@torch.no_grad()
def top_examples_many(
    model: nn.Module,
    data: ImageTensors,
    layer: str,
    channels: list[int],
    k: int = 9,
    position: tuple[int, int] | None = None,
    batch_size: int = 500,
) -> list[TopExamples]:
    """``top_examples`` for several channels of one layer in a single pass over the data."""
    if k < 1:
        raise CnnlabError(f"k must be at least 1, got {k}")
    model.eval()
    n_ch = len(channels)
    best_v = torch.empty(n_ch, 0)
    best_i = torch.empty(n_ch, 0, dtype=torch.long)
    best_loc = torch.empty(n_ch, 0, 2, dtype=torch.long)
    spatial = False
    start = 0
    for x, _ in data.batches(batch_size):
        with capture(model, [layer]) as acts:
            model(x)
        a = acts[layer]
        for c in channels:
            check_channel(layer, a, c)
        a = a[:, channels].float().cpu().transpose(0, 1)  # (channels, B, H, W) or (channels, B)
        b = a.shape[1]
        if a.ndim == 4:
            spatial = True
            if position is not None:
                y, xx = position
                if not (0 <= y < a.shape[2] and 0 <= xx < a.shape[3]):
                    raise CnnlabError(f"position {position} is outside {layer!r}'s {a.shape[2]}×{a.shape[3]} map")
                v = a[:, :, y, xx]
                loc = torch.tensor([y, xx]).expand(n_ch, b, 2)
            else:
                v, flat = a.flatten(2).max(2)  # (channels, B)
                loc = torch.stack([flat // a.shape[3], flat % a.shape[3]], 2)  # (channels, B, 2)
        else:
            v, loc = a.reshape(n_ch, b), torch.zeros(n_ch, b, 2, dtype=torch.long)
        idx = torch.arange(start, start + b).expand(n_ch, b)
        start += b
        v_all, i_all, l_all = torch.cat([best_v, v], 1), torch.cat([best_i, idx], 1), torch.cat([best_loc, loc], 1)
        keep = torch.topk(v_all, min(k, v_all.shape[1]), dim=1).indices  # (channels, k)
        best_v = v_all.gather(1, keep)
        best_i = i_all.gather(1, keep)
        best_loc = l_all.gather(1, keep[..., None].expand(-1, -1, 2))
    field = receptive_fields(model, data.shape, [layer])[layer] if spatial else None
    out = []
    for j, c in enumerate(channels):
        locations = [tuple(map(int, loc)) for loc in best_loc[j]] if spatial else None
        boxes = [field.box(loc, data.shape[1:]) for loc in locations] if locations and field else None
        fields = [unclipped_box(field, loc) for loc in locations] if locations else None
        indices = best_i[j].tolist()
        kept = [data.pixels(i).cpu() for i in indices] if hasattr(data, "pixels") else None  # as the model saw them
        out.append(TopExamples(layer, c, indices, best_v[j].tolist(), locations, boxes, fields, kept))
    return out


def unclipped_box(field, position: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """[lo, hi) per axis of the whole receptive field of the unit at ``position``, not clipped to
    the input: a field that runs past the border keeps its full size."""
    out = []
    for r, j, s, p in zip(field.size, field.jump, field.start, position):
        lo = math.ceil(s + p * j - (r - 1) / 2 - 1e-9)
        out.append((lo, lo + int(round(r))))
    return tuple(out)
