"""The dataset examples that activate a unit most (lecture 9: "pick the images and locations
in the training set which activate a unit most strongly").

The dataset is streamed in batches keeping only a running top-k, so memory stays bounded on
60,000+ images. For conv units the location of the maximum is kept too, and the image patch
under the unit's receptive field at that location can be cropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from cnnlab.data.memory import ImageTensors
from cnnlab.errors import CnnlabError
from cnnlab.viz.layers import capture, check_channel
from cnnlab.viz.receptive_field import receptive_fields


@dataclass(frozen=True)
class TopExamples:
    layer: str
    channel: int
    indices: list[int]  # dataset indices, strongest first
    values: list[float]  # the unit's activation for each
    locations: list[tuple[int, ...]] | None  # (y, x) of the maximum, for conv units
    boxes: list[tuple[tuple[int, int], ...]] | None  # receptive-field box at that location, for conv units


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
    ``position``, or anywhere in the map)."""
    if k < 1:
        raise CnnlabError(f"k must be at least 1, got {k}")
    model.eval()
    best_v = torch.empty(0)
    best_i = torch.empty(0, dtype=torch.long)
    best_loc = torch.empty(0, 2, dtype=torch.long)
    spatial = False
    start = 0
    for x, _ in data.batches(batch_size):
        with capture(model, [layer]) as acts:
            model(x)
        a = acts[layer]
        check_channel(layer, a, channel)
        a = a[:, channel].float().cpu()  # (B, H, W) or (B,)
        if a.ndim == 3:
            spatial = True
            if position is not None:
                y, xx = position
                if not (0 <= y < a.shape[1] and 0 <= xx < a.shape[2]):
                    raise CnnlabError(f"position {position} is outside {layer!r}'s {a.shape[1]}×{a.shape[2]} map")
                v = a[:, y, xx]
                loc = torch.tensor([[y, xx]]).expand(len(v), 2)
            else:
                v, flat = a.flatten(1).max(1)
                loc = torch.stack([flat // a.shape[2], flat % a.shape[2]], 1)
        else:
            v, loc = a.reshape(len(a)), torch.zeros(len(a), 2, dtype=torch.long)
        idx = torch.arange(start, start + len(v))
        start += len(v)
        v_all, i_all, l_all = torch.cat([best_v, v]), torch.cat([best_i, idx]), torch.cat([best_loc, loc])
        keep = torch.topk(v_all, min(k, len(v_all))).indices
        best_v, best_i, best_loc = v_all[keep], i_all[keep], l_all[keep]
    locations = [tuple(map(int, loc)) for loc in best_loc] if spatial else None
    boxes = None
    if spatial:
        field = receptive_fields(model, data.shape, [layer])[layer]
        boxes = [field.box(loc, data.shape[1:]) for loc in locations]
    return TopExamples(layer, channel, best_i.tolist(), best_v.tolist(), locations, boxes)


def crop(image: Tensor, box: tuple[tuple[int, int], ...]) -> Tensor:
    """The patch of a (C, H, W) image inside a receptive-field box."""
    (y0, y1), (x0, x1) = box
    return image[:, y0:y1, x0:x1]
