"""The dataset examples that activate a unit most (lecture 9: "pick the images and locations
in the training set which activate a unit most strongly").

The dataset is streamed in batches keeping only a running top-k, so memory stays bounded on
60,000+ images. For conv units the location of the maximum is kept too, and the image patch
under the unit's receptive field at that location can be cropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

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
    boxes: list[tuple[tuple[int, int], ...]] | None  # receptive-field box at that location, clipped to the image
    fields: list[tuple[tuple[int, int], ...]] | None = None  # the same boxes unclipped (may run past the border)


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
        out.append(TopExamples(layer, c, best_i[j].tolist(), best_v[j].tolist(), locations, boxes, fields))
    return out


def unclipped_box(field, position: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """[lo, hi) per axis of the whole receptive field of the unit at ``position``, not clipped to
    the input: a field that runs past the border keeps its full size."""
    out = []
    for r, j, s, p in zip(field.size, field.jump, field.start, position):
        lo = math.ceil(s + p * j - (r - 1) / 2 - 1e-9)
        out.append((lo, lo + int(round(r))))
    return tuple(out)
