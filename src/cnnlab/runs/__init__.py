"""A trained run as one artifact, and the one resolver every command uses.

A run folder records everything needed to use the model again: the model's name and
constructor arguments, the input pipeline (size after resize, channels, normalization,
class names), the dataset, the optimizer as it really ran, and the versions.

>>> from cnnlab.runs import Run, resolve
>>> run = Run.open("runs/lenet5-mnist")            # doctest: +SKIP
>>> run.model(), run.preprocess(images), run.config, run.metrics   # doctest: +SKIP
>>> resolve("lenet5").input_shape                  # a model name works too
(1, 28, 28)

Layer: below train, size, viz, serve and the CLI; above data and models.
"""

from cnnlab.runs.config import TrainConfig
from cnnlab.runs.folder import RunDir
from cnnlab.runs.pipeline import Pipeline
from cnnlab.runs.resolve import Subject, resolve
from cnnlab.runs.run import Run, adapted_data, load_run

__all__ = ["Pipeline", "Run", "RunDir", "Subject", "TrainConfig", "adapted_data", "load_run", "resolve"]
