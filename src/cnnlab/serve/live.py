"""What the page needs beyond :class:`cnnlab.runs.Run`: a run may still be training.

The run itself (config, model, input pipeline, metrics, test set) comes from ``Run``; this
module adds the newest weights (the final file, else the latest checkpoint), a stamp that
changes when new weights land, the run's state ("training, epoch k of n" or "finished"),
and the shape of the dataset's own images, which the page draws and shows.
"""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from cnnlab.data.cifar import CIFAR
from cnnlab.data.idx_datasets import IDX_DATASETS
from cnnlab.errors import CheckpointError
from cnnlab.runs import Pipeline, Run, RunDir
from cnnlab.runs.folder import load_state
from cnnlab.train.checkpoint import CHECKPOINT, load_checkpoint

WATCHED = (RunDir.WEIGHTS, CHECKPOINT)  # the files whose change means new weights


def native_shape(pipeline: Pipeline) -> tuple[int, int, int]:
    """(C, H, W) of the dataset's own images, before ``--resize`` and gray-to-RGB: what a
    drawing is turned into and what the test images are shown as."""
    if pipeline.dataset in IDX_DATASETS:
        return (1, 28, 28)
    if pipeline.dataset in CIFAR:
        return (3, 32, 32)
    return pipeline.input_shape  # an image tree's test images come cropped to the model's size


def is_digits(pipeline: Pipeline) -> bool:
    """MNIST-like: a drawing is centred the way MNIST's digits are (``digit.to_mnist``)."""
    return pipeline.dataset in IDX_DATASETS


def weights_stamp(run: Run) -> tuple:
    """Changes whenever new weights land (the final file, or a checkpoint)."""
    stamp = []
    for name in WATCHED:
        try:
            st = os.stat(run.path / name)
            stamp.append((name, st.st_mtime_ns, st.st_size))
        except OSError:
            stamp.append((name, None, None))
    return tuple(stamp)


def load_newest_weights(run: Run, model: nn.Module) -> str | None:
    """Load the run's newest weights into ``model``: the final file if it exists (a damaged
    one is a CheckpointError), else the latest readable checkpoint of a run still training.
    Returns the file's name, or None when there are no weights yet (``model`` is untouched)."""
    if (run.path / RunDir.WEIGHTS).is_file():
        run.folder.load_weights(model)
        return RunDir.WEIGHTS
    try:
        state = load_checkpoint(run.path, warn=lambda line: None, missing_ok=True)
    except CheckpointError:  # being replaced right now: the next poll reads it
        return None
    if state is None:
        return None
    load_state(model, state["model"], str(run.path / CHECKPOINT))
    return CHECKPOINT


def training_state(run: Run) -> dict[str, Any]:
    """ "finished", or "training" with the epoch in progress, from the run's own files."""
    done = len(run.metrics)
    epochs = run.config.epochs
    status = (run.summary or {}).get("status")
    if status is None:
        status = "finished" if (run.path / RunDir.WEIGHTS).is_file() else "training"
    epoch = min(done + 1, epochs) if status == "training" else done
    return {"status": status, "epoch": epoch, "epochs": epochs, "epochs_done": done}
