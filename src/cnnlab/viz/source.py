"""What the viz commands look at: a trained run folder, or a model by name (random or
pretrained weights), with its input pipeline. The resolver is :func:`cnnlab.runs.resolve`;
these names are kept for older callers."""

from cnnlab.data.stats import IMAGENET_MEAN, IMAGENET_STD
from cnnlab.runs.resolve import Subject
from cnnlab.runs.resolve import resolve as load_subject

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "Subject", "load_subject"]
