"""Checkpoints that let a run continue exactly where it stopped.

A checkpoint holds the model, the optimizer and scheduler states, every random-number
state (the shuffling/augmentation generator, torch's global generator for dropout, CUDA's),
the current epoch's shuffle order and how many of its batches are done, and the running
statistics of the epoch. It is written atomically; before a new one is written the previous
one is kept as ``checkpoint.prev.pt``, so a damaged latest checkpoint falls back to it.
Loading uses ``torch.load(weights_only=True)``: nothing in the file can run code.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from cnnlab import atomic
from cnnlab.errors import CheckpointError

CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"
FORMAT = 1


def save_checkpoint(run_path: Path, state: dict[str, Any]) -> None:
    latest = run_path / CHECKPOINT
    if latest.exists():
        os.replace(latest, run_path / PREVIOUS)  # keep the last good one
    atomic.write_with(latest, lambda tmp: torch.save({"format": FORMAT, **state}, tmp))


def rng_state(generator: torch.Generator) -> dict[str, Any]:
    state: dict[str, Any] = {"generator": generator.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any], generator: torch.Generator) -> None:
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_checkpoint(
    run_path: Path, warn: Callable[[str], None] = print, missing_ok: bool = False
) -> dict[str, Any] | None:
    """The newest readable checkpoint of a run (falling back to the previous one).
    ``missing_ok``: None when the run has no checkpoint at all (killed before its first)."""
    problems = []
    names = [n for n in (CHECKPOINT, PREVIOUS) if (run_path / n).exists()]
    if not names and missing_ok:
        return None
    for i, name in enumerate(names):
        path = run_path / name
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict) or state.get("format") != FORMAT or "model" not in state:
                raise ValueError("not a cnnlab checkpoint")
        except (RuntimeError, EOFError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile, OSError) as e:
            problems.append(f"{name} is {damage(e)}")
            if i + 1 < len(names):  # the last one's problem is in the error itself
                warn(f"warning: {path} is {damage(e)}; trying {names[i + 1]}")
            continue
        if problems:
            warn(f"resuming from {path} (epoch {state['epoch']}, step {state['step']})")
        return state
    detail = "; ".join(problems) if problems else f"no {CHECKPOINT} in the folder"
    raise CheckpointError(
        f"cannot resume {run_path}: {detail}; train the run again into a new folder (cnnlab train ... --out NEW_DIR)"
    )


def damage(e: BaseException) -> str:
    """What is wrong with a checkpoint file, in a few whole words (not half of torch's message)."""
    text = " ".join(str(e).split())
    if isinstance(e, EOFError) or not text:
        return "empty or cut off"
    if isinstance(e, zipfile.BadZipFile) or "zip archive" in text or "PytorchStreamReader" in text:
        return "cut off or damaged (not a complete PyTorch checkpoint)"
    if isinstance(e, pickle.UnpicklingError):
        return "not a PyTorch checkpoint, or not one that loads safely (weights only)"
    if isinstance(e, OSError):
        return f"unreadable ({e.strerror or text})"
    first = text.split(". ")[0]
    return f"damaged ({first if len(first) <= 160 else first[:157].rsplit(' ', 1)[0] + ' ...'})"
