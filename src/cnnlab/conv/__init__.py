"""The convolution operation itself (lecture 9): 1-D and 2-D convolution by the lecture's
methods, the convolution matrix, a kernel library, and batched filtering of images."""

from cnnlab.conv.api import convolve, correlate
from cnnlab.conv.batch import convolve_batch
from cnnlab.conv.methods import METHODS, conv_matrix
from cnnlab.conv.regions import MODES, output_shape
from cnnlab.conv.shapes import conv_output_size

__all__ = [
    "METHODS",
    "MODES",
    "conv_matrix",
    "conv_output_size",
    "convolve",
    "convolve_batch",
    "correlate",
    "output_shape",
]
