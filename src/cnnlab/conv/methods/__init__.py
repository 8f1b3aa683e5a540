"""The ways to compute a convolution, each readable on its own (lecture 9, "Convolution").

Every method takes two torch tensors of the same dtype and device (1-D or 2-D, the same
number of dimensions) and the :data:`~cnnlab.conv.regions.Region` of the full output the
mode keeps, and returns that region. All are differentiable with autograd.
"""

from cnnlab.conv.methods.fft import fft, overlap_add
from cnnlab.conv.methods.flip_and_filter import flip_and_filter
from cnnlab.conv.methods.im2col import im2col
from cnnlab.conv.methods.matrix import conv_matrix, matrix
from cnnlab.conv.methods.translate_and_scale import translate_and_scale

METHODS = {
    "translate_and_scale": translate_and_scale,
    "flip_and_filter": flip_and_filter,
    "matrix": matrix,
    "im2col": im2col,
    "fft": fft,
    "overlap_add": overlap_add,
}

__all__ = ["METHODS", "conv_matrix", "fft", "flip_and_filter", "im2col", "matrix", "overlap_add", "translate_and_scale"]
