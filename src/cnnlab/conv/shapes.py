"""The output size of a conv or pooling layer along one axis: the one place the rule lives.

    H' = floor((H + P_before + P_after − d·(F − 1) − 1) / S) + 1

with extent (kernel) F, stride S, dilation d and padding P on each side (lecture 9:
"(W − F + 2P)/S + 1"). ``ceil_mode`` rounds up instead, as ``nn.MaxPool2d(ceil_mode=True)``
(GoogLeNet) does, but, like torch, drops a last window that would start in the padding.

>>> conv_output_size(28, 5), conv_output_size(28, 2, 2), conv_output_size(112, 3, 2, ceil_mode=True)
(24, 14, 56)
"""

from __future__ import annotations

from cnnlab.errors import CnnlabError


def check_count(name: str, value, least: int) -> int:
    """``value`` if it is an int of at least ``least`` (not a bool or float), else a CnnlabError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise CnnlabError(f"{name} must be an integer of at least {least}, got {value!r}")
    return value


def conv_output_size(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Outputs along one axis; ``padding`` is per side (an int for both, or (before, after)).
    Raises :class:`CnnlabError` when the window does not fit (no output at all).

    >>> conv_output_size(28, 5)                              # LeNet-5's C3 input: 28 - 5 + 1
    24
    >>> conv_output_size(224, 11, stride=4, padding=2)       # AlexNet's first layer
    55
    """
    check_count("size", size, 1)
    check_count("kernel size", kernel, 1)
    check_count("stride", stride, 1)
    check_count("dilation", dilation, 1)
    before, after = (padding, padding) if isinstance(padding, int) else padding  # a bool is refused below
    check_count("padding", before, 0)
    check_count("padding", after, 0)
    span = dilation * (kernel - 1) + 1  # input positions one window covers
    room = size + before + after - span
    out = (-(-room // stride) if ceil_mode else room // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + before:  # the last window would start in the padding
        out -= 1
    if out < 1:
        raise CnnlabError(
            f"a window of {kernel} (spanning {span} with dilation {dilation}) does not fit an input of {size} "
            f"with padding {padding}; use a smaller kernel, more padding or a larger input"
        )
    return out
