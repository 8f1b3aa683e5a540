# %% [markdown]
# Runs in {seconds} s on a 2-core CPU, with no network (MNIST ships with cnnlab).
#
# # 02 · Layers, weight sharing and invariance
#
# CSC2515 Lecture 9, slides *Convolutional Layer*, *Pooling*, *Locally Connected Layer*,
# *The replicated feature approach*, *Backpropagation with Weight Constraints* and *The
# Invariance Problem*, with `cnnlab.nn` and `cnnlab.experiments.invariance`. The invariance
# experiment runs here on 1,000 training images for 2 epochs (the README's full run: 20,000
# images, 4 epochs, 6 minutes). README: [Layers and models](../README.md#layers-and-models),
# [The invariance argument](../README.md#the-invariance-argument-cnnlab-experiment-invariance).

# %%
# %matplotlib inline
import numpy as np
import torch
from torch import nn

import cnnlab
from cnnlab.conv import conv_output_size, correlate
from cnnlab.conv.kernels import KERNELS
from cnnlab.data import load_dataset
from cnnlab.nn import LocallyConnected2d, make_pool, pool_output_size

train, test = load_dataset("mnist", quiet=True)  # the bundled IDX files, md5-checked
digit = train.images[0, 0].double() / 255  # (28, 28), a 5
print(train.images.shape, test.images.shape, "label of the first image:", int(train.labels[0]))

# %% [markdown]
# ## Lecture: *Convolutional Layer*
#
# A conv layer is a bank of filters; its hyperparameters are the number of filters (the
# output's depth), the stride and the filter size. Here a layer of four 3×3 filters, set to
# the lecture's four kernels, on a digit. `nn.Conv2d` computes a correlation (no flip), so
# each filter is flipped to convolve; the result is `cnnlab.conv`'s to rounding.

# %%
lecture = [k for k in KERNELS.values() if k.lecture]
layer = nn.Conv2d(1, len(lecture), kernel_size=3, padding=1, bias=False).double()
with torch.no_grad():
    layer.weight[:, 0] = torch.stack([torch.from_numpy(k.weights[::-1, ::-1].copy()) for k in lecture])
    maps = layer(digit[None, None])[0]  # (4, 28, 28)
reference = [correlate(digit.numpy(), k.weights[::-1, ::-1], mode="same") for k in lecture]
print(
    "nn.Conv2d == cnnlab.conv.correlate (to 1e-12):",
    all(np.allclose(m.numpy(), r, atol=1e-12) for m, r in zip(maps, reference)),
)
for stride in (1, 2, 3):
    print(
        f"28×28 input, 5×5 filters, stride {stride}, no padding -> {conv_output_size(28, 5, stride)}×{conv_output_size(28, 5, stride)}"
    )
cnnlab.show([digit.numpy(), *maps.numpy()], labels=["input", *(k.name for k in lecture)])  # signed maps: blue < 0 < red

# %% [markdown]
# ## Lecture: *Pooling Options* and *Pooling*
#
# Max pooling returns the largest argument, average pooling the mean; cnnlab adds Lp and
# stochastic pooling. The slide's max-pooling example (2×2 windows, stride 2), and the
# shape rule floor((H + 2P − F)/S) + 1.

# %%
x = torch.tensor([[1.0, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]])[None, None]
for kind in ("max", "avg", "lp"):
    print(f"{kind:4} pool, F=2, S=2:", make_pool(kind, 2, 2)(x)[0, 0].tolist())
torch.manual_seed(0)
print("stochastic pool (training, one draw):", make_pool("stochastic", 2, 2).train()(x)[0, 0].tolist())
print(
    "pool_output_size(224, F=3, S=2) =",
    pool_output_size(224, 3, 2),
    "  with ceil_mode:",
    pool_output_size(224, 3, 2, ceil_mode=True),
)

# %% [markdown]
# ## Lecture: *Locally Connected Layer*: "200x200 image, 40K hidden units, filter size 10x10, 4M parameters"
#
# Counted from real layers: a locally connected layer with one 10×10 filter per hidden unit
# has 4,000,000 weights; a fully connected one 1.6 billion (counted from its shape, not
# allocated); the convolution, one filter shared by every position, 100.

# %%
local = LocallyConnected2d(1, 1, (200, 200), 10, padding="same", bias=False)
conv = nn.Conv2d(1, 1, 10, bias=False)
print(f"fully connected:   {200 * 200 * 40_000:>13,} weights")
print(f"locally connected: {sum(p.numel() for p in local.parameters()):>13,} weights")
print(f"convolution:       {sum(p.numel() for p in conv.parameters()):>13,} weights")

# %% [markdown]
# ## Lecture: *The replicated feature approach* and *Backpropagation with Weight Constraints*
#
# "The red connections all have the same weight": a conv layer is a locally connected layer
# whose filters are tied. `LocallyConnected2d.from_conv` copies a conv's filter to every
# position; the outputs agree, and the gradient of the shared filter is the **sum** of the
# gradients of its copies (in float64, to rounding).

# %%
torch.manual_seed(0)
conv = nn.Conv2d(3, 4, 3, padding=1).double()
untied = LocallyConnected2d.from_conv(conv, input_size=(6, 5)).double()  # the filter copied to 30 positions
x = torch.randn(2, 3, 6, 5, dtype=torch.float64)
g = torch.randn(2, 4, 6, 5, dtype=torch.float64)
(conv(x) * g).sum().backward()
(untied(x) * g).sum().backward()
print(
    "weights:",
    tuple(conv.weight.shape),
    "shared, against",
    tuple(untied.weight.shape),
    "untied (positions, out, in·3·3)",
)
print("outputs equal:", torch.allclose(untied(x), conv(x)))
print(
    "conv gradient == sum of the per-position gradients:",
    torch.allclose(untied.weight.grad.sum(0).view_as(conv.weight), conv.weight.grad),
)

# %% [markdown]
# ## Lecture: *When Will this Work?* and *General Images: the object can be anywhere*
#
# The invariance experiment: MNIST digits on a 40×40 canvas, centred (**registered**) or at
# random positions (**translated**); a fully connected, a locally connected and a conv net
# (the last two with the same units in every layer) trained on each and tested on both.

# %%
from cnnlab.experiments.invariance import InvarianceConfig, make_setting

g = torch.Generator().manual_seed(0)
few = test.subset(slice(0, 8))
canvases = [make_setting(few, 40, setting, g).images[:, 0] for setting in ("registered", "translated")]
cnnlab.show(torch.cat(canvases), labels=[f"{s} {i}" for s in ("registered", "translated") for i in range(8)], cols=8)

# %% [markdown]
# A smaller, faster configuration than the README's: 1,000 training and 1,000 test images,
# 2 epochs at batch 32. Accuracies are lower than the full run's, and the timings vary.

# %%  tags=["nondeterministic"]
from cnnlab.experiments import invariance

small = InvarianceConfig(train_size=1000, test_size=1000, epochs=2, batch_size=32)
result = invariance.run(small)

# %% [markdown]
# What the numbers say, in words `invariance.findings` chooses from them, beside the
# README's full run (`benchmarks/results/invariance.json`):

# %%  tags=["nondeterministic"]
import json
from pathlib import Path

full = json.loads(Path("../benchmarks/results/invariance.json").read_text())
print(
    f"{'model':14} {'trained on':11} {'here: test reg.':>16} {'test transl.':>13}   {'full run: reg.':>15} {'transl.':>8}"
)
for here, there in zip(result["rows"], full["rows"]):
    print(
        f"{here['model']:14} {here['trained_on']:11} {100 * here['test_registered']:15.1f}% {100 * here['test_translated']:12.1f}%"
        f"   {100 * there['test_registered']:14.1f}% {100 * there['test_translated']:7.1f}%"
    )
print()
for line in result["findings"]:
    print("-", line)
invariance.figure(result)
