"""Batch augmentations: every output image is one of the allowed transforms of its input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnnlab.data.augment import get_augment, random_shift, with_erasing, with_flips
from cnnlab.errors import CnnlabError


def shifted(img: torch.Tensor, dy: int, dx: int, k: int) -> torch.Tensor:
    """img (C, H, W) moved by (k - dy, k - dx) pixels with zeros coming in: brute force."""
    h, w = img.shape[1:]
    return F.pad(img, (k, k, k, k))[:, dy : dy + h, dx : dx + w]


def candidates(img: torch.Tensor, k: int, flips: bool) -> list[torch.Tensor]:
    outs = [shifted(img, dy, dx, k) for dy in range(2 * k + 1) for dx in range(2 * k + 1)]
    return outs + [o.flip(2) for o in outs] if flips else outs


@pytest.mark.parametrize("k", [1, 2, 3])
def test_shift_moves_each_image_within_range(k):
    x = torch.randint(1, 255, (32, 2, 12, 10), dtype=torch.uint8)
    y = random_shift(k)(x, torch.Generator().manual_seed(k))
    assert y.shape == x.shape and y.dtype == torch.uint8
    seen = set()
    for a, b in zip(x, y):
        matches = [i for i, c in enumerate(candidates(a, k, False)) if torch.equal(c, b)]
        assert matches, "an output is not a shift of its input"
        seen.add(matches[0])
    assert len(seen) > 5  # offsets vary across the batch


def test_flips_mirror_about_half_the_batch():
    x = torch.randint(1, 255, (200, 1, 9, 9), dtype=torch.uint8)
    aug = with_flips(random_shift(1))
    y = aug(x, torch.Generator().manual_seed(0))
    mirrored = 0
    for a, b in zip(x, y):
        plain = [c for c in candidates(a, 1, False)]
        if not any(torch.equal(c, b) for c in plain):
            assert any(torch.equal(c.flip(2), b) for c in plain), "an output is neither shifted nor mirrored"
            mirrored += 1
    assert 60 < mirrored < 140
    assert torch.equal(y, aug(x, torch.Generator().manual_seed(0)))  # seeded runs repeat


def test_erasing_replaces_one_rectangle_in_about_half_the_images():
    # constant images, so that any changed pixel is visible; noise equal to 77 is rare and
    # only shrinks the changed set inside the rectangle, never outside it
    h, w = 20, 16
    x = torch.full((400, 2, h, w), 77, dtype=torch.uint8)
    aug = with_erasing(lambda x, generator=None: x, p=0.5)
    y = aug(x, torch.Generator().manual_seed(3))
    assert y.shape == x.shape and y.dtype == torch.uint8
    erased, shapes = 0, set()
    for a, b in zip(x, y):
        changed = (a != b).any(0)  # (H, W)
        if not changed.any():
            continue
        erased += 1
        rows, cols = changed.any(1).nonzero().flatten(), changed.any(0).nonzero().flatten()
        top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        box = (bottom - top) * (right - left)
        assert changed.sum() >= 0.9 * box  # one filled rectangle, not scattered pixels
        assert not changed[:top].any() and not changed[bottom:].any()
        assert 0.02 * h * w * 0.5 <= box <= 0.33 * h * w * 1.5  # the paper's area range, with rounding
        assert torch.equal(a[:, ~changed], b[:, ~changed])
        shapes.add((int(bottom - top), int(right - left)))
    assert 150 < erased < 250
    assert len(shapes) > 20  # each image draws its own rectangle
    assert torch.equal(y, aug(x, torch.Generator().manual_seed(3)))  # seeded runs repeat


def test_shift_flip_erase_keeps_unerased_images_shifted_or_mirrored():
    x = torch.randint(1, 255, (100, 1, 9, 9), dtype=torch.uint8)
    y = get_augment("shift+flip+erase")(x, torch.Generator().manual_seed(1))
    plain = 0
    for a, b in zip(x, y):
        if any(torch.equal(c, b) for c in candidates(a, 2, True)):
            plain += 1
    assert 25 < plain < 75  # the other half carries a noise rectangle


def test_unknown_augmentation_lists_the_choices():
    with pytest.raises(
        CnnlabError,
        match="unknown augmentation 'mirror'.*none, shift, shift1, shift3, shift\\+flip, flip, shift\\+flip\\+erase",
    ):
        get_augment("mirror")
    assert get_augment("none") is None


@pytest.mark.parametrize("size", [(28, 28), (20, 26)])
def test_affine_batch_matches_scipy(size):
    """Each image's rotation, zoom and shift against scipy.ndimage.affine_transform (bilinear,
    zeros outside), on random images of a square and a non-square size."""
    nd = pytest.importorskip("scipy.ndimage")
    import numpy as np

    from cnnlab.data.augment import affine_batch

    h, w = size
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 2, h, w, generator=g, dtype=torch.float64) * 255
    degrees = torch.rand(6, generator=g, dtype=torch.float64) * 360 - 180
    scale = 0.7 + 0.6 * torch.rand(6, generator=g, dtype=torch.float64)
    shift = torch.rand(6, 2, generator=g, dtype=torch.float64) * 8 - 4  # (dx, dy) pixels
    out = affine_batch(x, degrees, scale, shift)
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    for i in range(6):
        a, s = np.deg2rad(degrees[i].item()), scale[i].item()
        # output (row, col) samples the input at inverse @ (out - centre - shift) + centre
        inverse = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) / s  # (row, col) order
        offset = centre - inverse @ (centre + shift[i].flip(0).numpy())
        for c in range(2):
            ref = nd.affine_transform(x[i, c].numpy(), inverse, offset=offset, order=1, mode="grid-constant")
            np.testing.assert_allclose(out[i, c].numpy(), ref, atol=1e-9)


def test_random_affine_draws_its_own_transform_per_image_and_repeats_with_its_seed():
    from cnnlab.data.augment import random_affine

    digit = torch.zeros(1, 1, 28, 28, dtype=torch.uint8)
    digit[0, 0, 6:22, 12:16] = 255  # a bar: every rotation, zoom or shift changes it
    x = digit.repeat(8, 1, 1, 1)
    y = get_augment("affine")(x, torch.Generator().manual_seed(3))
    assert y.shape == x.shape and y.dtype == torch.uint8
    assert len({bytes(img.numpy()) for img in y}) == 8  # eight copies, eight different transforms
    assert torch.equal(y, get_augment("affine")(x, torch.Generator().manual_seed(3)))
    # the ink stays about the same (zoom ≤ ±10%, nothing falls off the frame)
    ratio = y.double().sum((1, 2, 3)) / x.double().sum((1, 2, 3))
    assert ((ratio > 0.75) & (ratio < 1.3)).all()
    identity = random_affine(degrees=0, scale=(1.0, 1.0), max_shift=0)(x, torch.Generator().manual_seed(0))
    assert torch.equal(identity, x)
