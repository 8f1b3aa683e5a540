# %% [markdown]
# Runs in {seconds} s on a 2-core CPU, with no network.
#
# # 01 · The convolution operation
#
# CSC2515 Lecture 9, slides *Convolution* and *2-D Convolution*, reproduced with `cnnlab.conv`:
# the lecture's worked examples by each of its methods, the convolution matrix, the four
# "What does this filter do?" kernels on a real photo, and the aside about FFTs, measured.
# README: [The convolution operation](../README.md#the-convolution-operation-cnnlabconv).

# %%
# %matplotlib inline
import numpy as np
import torch
import torch.nn.functional as F

import cnnlab
from cnnlab.conv import METHODS, conv_matrix, convolve, convolve_batch

# %% [markdown]
# ## Lecture: *Convolution*, Method 1: translate-and-scale
#
# $(a * b)_t = \sum_\tau a_\tau\, b_{t-\tau}$. The slide's example: $(2, -1, 1) * (1, 1, 2)$
# is the sum of copies of $b$, each shifted by $\tau$ and scaled by $a_\tau$.

# %%
a, b = np.array([2, -1, 1]), np.array([1, 1, 2])
terms = np.zeros((len(a), len(a) + len(b) - 1), dtype=int)
for tau, a_tau in enumerate(a):
    terms[tau, tau : tau + len(b)] = a_tau * b  # b shifted by tau, scaled by a_tau
    print(f"{a_tau:+d} × b shifted by {tau}: {terms[tau]}")
print(f"sum                   : {terms.sum(0)}")
print(f"cnnlab.conv.convolve  : {convolve(a, b)}")

# %% [markdown]
# ## Lecture: *Convolution*, Method 2: flip-and-filter
#
# Flip $b$, slide it along $a$ (zero-padded), and take a dot product at every offset.

# %%
padded = np.pad(a, len(b) - 1)  # (0, 0, 2, -1, 1, 0, 0)
flipped = b[::-1]
for t in range(len(a) + len(b) - 1):
    window = padded[t : t + len(b)]
    print(f"t={t}: {window} · {flipped} = {int(window @ flipped):+d}")

# %% [markdown]
# ## Lecture: *"Convolution can also be viewed as matrix multiplication"*
#
# The slide's Toeplitz matrix: one column per input value, each column a shifted copy of
# $b$. Multiplying it by $a$ is the convolution.

# %%
M = conv_matrix(b, len(a))
print(M)
print("M @ a =", M @ a)

# %% [markdown]
# ## The methods side by side
#
# `cnnlab.conv` has one short file per method (`src/cnnlab/conv/methods/`). All give the
# same exact integers; `method="auto"` picks the one predicted fastest for the sizes given.
# The slide's two properties, commutativity and linearity, hold to the last digit.

# %%
A = np.array([[1, 3, 1], [0, -1, 1], [2, 2, -1]])
B = np.array([[1, 2], [0, -1]])
for method in METHODS:
    one_d = convolve(a, b, method=method)
    two_d = convolve(A, B, method=method)
    print(f"{method:20} 1-D {one_d}   2-D row 0 {two_d[0]}")
c = np.array([0, 3, -2])
print("a * b == b * a:", np.array_equal(convolve(a, b), convolve(b, a)))
print(
    "a * (2b - 3c) == 2 a*b - 3 a*c:",
    np.array_equal(convolve(a, 2 * b - 3 * c), 2 * convolve(a, b) - 3 * convolve(a, c)),
)

# %% [markdown]
# ## Lecture: *2-D Convolution*, Method 1: translate-and-scale
#
# The slide: the 3×3 array times each entry of the 2×2 kernel, shifted to that entry's
# position, summed. (The kernel's 0 adds nothing.)

# %%
terms_2d, labels = [], []
for (s, t), weight in np.ndenumerate(B):
    shifted = np.zeros((4, 4), dtype=int)
    shifted[s : s + 3, t : t + 3] = weight * A
    terms_2d.append(shifted)
    labels.append(f"{weight:+d} × A at ({s}, {t})")
print("sum of the terms == convolve(A, B):", np.array_equal(sum(terms_2d), convolve(A, B)))
cnnlab.show([*terms_2d, convolve(A, B)], labels=[*labels, "= A * B"], cols=5)

# %% [markdown]
# In 2-D the convolution matrix is *doubly block Toeplitz*: 16 outputs × 9 inputs here,
# block (i, j) the 1-D matrix of kernel row i − j.

# %%
M2 = conv_matrix(B, A.shape)
print(M2.shape)
print(M2)
print("M2 @ A.ravel() == convolve(A, B).ravel():", np.array_equal(M2 @ A.ravel(), convolve(A, B).ravel()))

# %% [markdown]
# ## Lecture: *"What does this filter do?"*
#
# The slides' four kernels, as printed, on scikit-image's `camera` photo. For display, a
# kernel whose weights sum to a positive number is divided by that sum (the blur sums to 8,
# the sharpen to 4); zero-sum kernels (edges) show 0 as mid-grey. (`cnnlab filter photo.png
# -k blur -k sharpen -k laplacian -k sobel-x --grid -o out.png` writes the same as a labelled
# figure; `cnnlab.conv.image.grid_figure` is that figure in a notebook.)

# %%
import skimage.data

from cnnlab.conv.image import filter_image
from cnnlab.conv.kernels import KERNELS

photo = skimage.data.camera()[40:296, 150:406].astype(np.float64)  # (256, 256) in 0-255: the face and the camera
lecture = [k for k in KERNELS.values() if k.lecture]
for k in lecture:
    print(f"{k.name:10} {k.weights.astype(int).tolist()}  {k.description}")
filtered = [filter_image(photo, [k]) for k in lecture]  # uint8, by each kernel's display rule
cnnlab.show([photo.astype(np.uint8), *filtered], labels=["camera", *(k.name for k in lecture)], scale=1)

# %% [markdown]
# ## Lecture aside: *"More efficient than the FFT for modern conv nets on GPUs!"*
#
# Measured here on the CPU, on a smaller scale than `benchmarks/conv_gemm_vs_fft.py`
# (whose full table is read below): a conv-net layer (a batch of 32-channel maps, 3×3
# kernels) by the direct/GEMM convolution (`F.conv2d`) against the FFT
# (`convolve_batch(method="fft")`), and one large image with a large kernel. Timings vary
# from run to run; the ratio is the point: above 1, the direct convolution wins.

# %%  tags=["nondeterministic"]
import time


def best_of(fn, repeats=2):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


torch.manual_seed(0)
for label, (n, ch, side, k) in {"conv-net layer": (16, 32, 32, 3), "large kernel": (1, 1, 256, 31)}.items():
    x, w = torch.randn(n, ch, side, side), torch.randn(ch, ch, k, k)
    direct = best_of(lambda: F.conv2d(x, w.flip((-2, -1)), padding=k // 2))
    fft = best_of(lambda: convolve_batch(x, w, "same", "fft"))
    print(
        f"{label:15} {n}×{ch}×{side}² * {ch}×{ch}×{k}²: direct {1e3 * direct:7.1f} ms, FFT {1e3 * fft:7.1f} ms, FFT / direct = {fft / direct:.2f}"
    )

# %%
import json
from pathlib import Path

rows = json.loads(Path("../benchmarks/results/conv_gemm_vs_fft_cpu.json").read_text())["rows"]
print("benchmarks/results/conv_gemm_vs_fft_cpu.json (the full benchmark, this CPU):")
for r in rows:
    print(
        f"  {r['kind']:15} {r['problem']:28} direct {r['direct_ms']:8.1f} ms, FFT {r['fft_ms']:7.1f} ms, FFT / direct = {r['fft_over_direct']:.2f}"
    )
