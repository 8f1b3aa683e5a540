"""The method registry: every way to compute a convolution, and what each can promise.

A method is one file under ``conv/methods/`` that builds a :class:`Method` and calls
:func:`register`; ``convolve``, ``method="auto"``, the calibration and ``convolve_batch`` all
read this registry, so adding a method touches nothing else. (``auto`` uses a method once a
calibration has timed it: ``python benchmarks/conv_calibrate.py``.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import Tensor

from cnnlab.conv.regions import Region

Shape = Sequence[int]


def always_fits(shape_a: Shape, shape_b: Shape, mode: str, itemsize: int) -> bool:
    return True


@dataclass(frozen=True)
class Method:
    name: str  # what ``method=`` takes
    position: int  # order in listings and error messages (the lecture's order)
    compute: Callable[[Tensor, Tensor, Region], Tensor]  # (a, b, region of the full output) -> that region
    # work counts of the cost model, one per fitted coefficient (see auto.py): seconds ≈ coef · work
    work: Callable[[Shape, Shape, str], list[float]]
    # device types where ``compute`` runs on int64 tensors (exact integer arithmetic); None: every device
    int64_devices: tuple[str, ...] | None = ("cpu",)
    # a transform method: rounding error grows with the size (integers only when provably
    # exact after rounding), and one NaN/inf spreads over every output
    spectral: bool = False
    # slides one input over the other zero-padded: a NaN or inf in the slid one meets those
    # zeros (0 · inf = NaN), so it slides the finite one and refuses when neither is finite
    zero_padded: bool = False
    auto: bool = True  # a candidate for method="auto" (when calibrated)
    fits: Callable[[Shape, Shape, str, int], bool] = always_fits  # memory check for auto
    # (N, C, H, W) images, kernel (kh, kw) / (C, kh, kw) / (O, C, kh, kw), region of (H, W) -> images
    batch: Callable[[Tensor, Tensor, Region], Tensor] | None = None
    batch_multichannel: bool = True  # the batch form takes (O, C, kh, kw) kernels

    def __call__(self, a: Tensor, b: Tensor, region: Region) -> Tensor:
        return self.compute(a, b, region)

    def int64_on(self, device_type: str) -> bool:
        return self.int64_devices is None or device_type in self.int64_devices


REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    assert method.name not in REGISTRY, f"conv method {method.name!r} registered twice"
    REGISTRY[method.name] = method
    ordered = sorted(REGISTRY.values(), key=lambda m: m.position)
    REGISTRY.clear()
    REGISTRY.update((m.name, m) for m in ordered)
    return method


def auto_methods() -> tuple[str, ...]:
    return tuple(name for name, m in REGISTRY.items() if m.auto)


def batch_methods() -> tuple[str, ...]:
    return tuple(name for name, m in REGISTRY.items() if m.batch is not None)
