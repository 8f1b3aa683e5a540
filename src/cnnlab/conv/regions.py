"""Output shapes of the three modes, as in ``scipy.signal.convolve``.

Every method can compute the *full* convolution, of shape ``a.shape + b.shape - 1``; a mode
keeps a centred region of it:

    full    everything:                           M + K - 1
    same    the size of ``a``, centred:           M
    valid   only where the two overlap entirely:  max(M, K) - min(M, K) + 1

``numpy.convolve`` agrees except in ``same`` mode when ``a`` is shorter than ``b``: numpy
then returns max(M, K) values, scipy and cnnlab return M (the shape of the first argument).
"""

from __future__ import annotations

from collections.abc import Sequence

from cnnlab.errors import CnnlabError

MODES = ("full", "same", "valid")

Region = tuple[tuple[int, int], ...]  # per dimension, [start, stop) in full-output coordinates


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise CnnlabError(f"unknown mode {mode!r}; use 'full', 'same' or 'valid'")


def region(a_shape: Sequence[int], b_shape: Sequence[int], mode: str) -> Region:
    """The part of the full output that ``mode`` keeps.

    >>> region((3,), (3,), "full"), region((3,), (3,), "same"), region((3,), (3,), "valid")
    (((0, 5),), ((1, 4),), ((2, 3),))
    """
    full = [m + k - 1 for m, k in zip(a_shape, b_shape)]
    if mode == "full":
        keep = full
    elif mode == "same":
        keep = list(a_shape)
    else:
        a_big = all(m >= k for m, k in zip(a_shape, b_shape))
        b_big = all(k >= m for m, k in zip(a_shape, b_shape))
        if not (a_big or b_big):
            raise CnnlabError(
                f"'valid' mode needs one input at least as large as the other in every dimension; "
                f"got shapes {tuple(a_shape)} and {tuple(b_shape)}; use mode='full' or 'same'"
            )
        keep = [abs(m - k) + 1 for m, k in zip(a_shape, b_shape)]
    return tuple(((f - n) // 2, (f - n) // 2 + n) for f, n in zip(full, keep))


def output_shape(a_shape: Sequence[int], b_shape: Sequence[int], mode: str) -> tuple[int, ...]:
    """The shape ``convolve(a, b, mode)`` returns for inputs of these shapes.

    >>> [output_shape((28, 28), (5, 5), mode) for mode in MODES]
    [(32, 32), (28, 28), (24, 24)]
    """
    return tuple(stop - start for start, stop in region(a_shape, b_shape, mode))


def full_shape(a_shape: Sequence[int], b_shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(m + k - 1 for m, k in zip(a_shape, b_shape))


def slices(r: Region) -> tuple[slice, ...]:
    return tuple(slice(start, stop) for start, stop in r)
