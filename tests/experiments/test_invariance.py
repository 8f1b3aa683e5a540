"""The invariance experiment: digits placed correctly, and the command end to end on a small run."""

from __future__ import annotations

import json

import torch

from cnnlab.experiments.invariance import place
from tests.conftest import run_cli


def test_place_puts_each_digit_at_its_offset():
    images = torch.arange(2 * 28 * 28, dtype=torch.int64).remainder(250).add(1).to(torch.uint8).view(2, 1, 28, 28)
    offsets = torch.tensor([[0, 12], [7, 3]])
    out = place(images, 40, offsets)
    assert out.shape == (2, 1, 40, 40)
    assert torch.equal(out[0, :, 0:28, 12:40], images[0]) and torch.equal(out[1, :, 7:35, 3:31], images[1])
    assert out.sum() == images.to(torch.int64).sum()  # nothing else written


def test_command_end_to_end(tmp_path):
    proc = run_cli(
        "experiment",
        "invariance",
        "--out",
        str(tmp_path),
        "--epochs",
        "1",
        "--train-size",
        "200",
        "--test-size",
        "100",
        "--canvas",
        "32",
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "results.json").read_text())
    assert [(r["model"], r["trained_on"]) for r in result["rows"]] == [
        (m, s) for m in ("fc-baseline", "lc-baseline", "conv-baseline") for s in ("registered", "translated")
    ]
    params = {r["model"]: r["params"] for r in result["rows"]}
    assert params["lc-baseline"] > params["fc-baseline"] > params["conv-baseline"]
    assert all(0 <= r["test_registered"] <= 1 and 0 <= r["test_translated"] <= 1 for r in result["rows"])
    assert len(result["findings"]) == 3
    assert (tmp_path / "invariance.png").read_bytes()[:4] == b"\x89PNG"
    assert "test translated" in proc.stdout
