"""The ways to compute a convolution, each readable on its own (lecture 9, "Convolution").

Every method takes two torch tensors of the same dtype and device (1-D or 2-D, the same
number of dimensions) and the :data:`~cnnlab.conv.regions.Region` of the full output the
mode keeps, and returns that region. All are differentiable with autograd.

Each module here registers its method (:mod:`cnnlab.conv.registry`); importing this package
imports them all, so a new method is one new file.
"""

import importlib
import pkgutil

from cnnlab.conv.registry import REGISTRY as METHODS

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")

from cnnlab.conv.methods.matrix import conv_matrix  # noqa: E402

__all__ = ["METHODS", "conv_matrix"]
