# %% [markdown]
# Runs in {seconds} s on a 2-core CPU, with no network (MNIST ships with cnnlab).
#
# # 05 · What do networks learn?
#
# CSC2515 Lecture 9, slides *What Do Networks Learn?* and *Optimizing the Image*, with
# `cnnlab.viz` on a LeNet-5: its first-layer filters, the test images that excite a unit most
# (with their receptive fields), an image optimized from noise at steps 0, 4, 48 and 2048,
# saliency, and Distill's "Baseball—or stripes?" for a few C3 units. So that this notebook
# runs on its own, it trains a quick LeNet-5 (10,000 training images, 2 epochs: about 97%;
# notebook 03 trains the full one). README: [What a network learned](../README.md#what-a-network-learned-cnnlab-viz).

# %%
# %matplotlib inline
import tempfile
from pathlib import Path

from IPython.display import display

from cnnlab.runs import resolve
from cnnlab.train.run import config_for, run_training
from cnnlab.viz import RenderConfig, filter_grid, objectives, render, saliency_panel, top_examples
from cnnlab.viz.examples import top_examples_many

# %%  tags=["nondeterministic"]
folder = Path(tempfile.mkdtemp(prefix="cnnlab-viz-"))
cfg = config_for("lenet5", device="cpu", seed=0, epochs=2, train_subset=10_000)
summary = run_training(cfg, out=folder / "run", quiet=True, echo=lambda line: None)
print(f"LeNet-5 on 10,000 images, 2 epochs: {100 * summary['test_accuracy']:.1f}% test accuracy")
subject = resolve(str(folder / "run"))  # the model, in eval mode, with the run's input pipeline
model, test = subject.model, subject.run.test_data

# %% [markdown]
# ## Lecture: *"we can understand what first-layer features are doing by visualizing the weight matrices"*
#
# C1's six 5×5 filters on one diverging colour map (blue negative, white zero, red positive).

# %%
filter_grid(model, subject.input_shape, title="LeNet-5")  # what `cnnlab viz filters RUN` writes

# %% [markdown]
# ## Lecture: *"pick the images and locations in the training set which activate a unit most strongly"*
#
# The 9 test images that excite C3 channel 5 most, each with the receptive field of the
# strongest unit outlined, and the patch under it.

# %%  tags=["nondeterministic"]
top = top_examples(model, test, "C3", 5, k=9)
print("test images", top.indices)
top.figure("C3 channel 5: top 9 test images")  # `cnnlab viz examples RUN --layer C3 --channel 5`

# %% [markdown]
# ## Lecture: *Optimizing the Image*, "Step 0, Step 4, Step 48, Step 2048"
#
# Gradient ascent on the input, from faint noise, to maximize the logit of class 3
# (Fourier parameterization, transformation robustness, blur and decay toward the data mean:
# `RenderConfig`'s defaults), with the slide's snapshots.

# %%  tags=["nondeterministic"]
result = render(
    model, objectives.class_logit(3), subject.input_shape, subject.mean, subject.std, RenderConfig(steps=2048)
)
print(f"class 3 logit: {result.start_value:.2f} at step 0 -> {result.end_value:.2f} at step 2048")
result  # a render result shows its snapshots, a column per step

# %% [markdown]
# ## Lecture: *"Can use input gradients to diagnose what the unit is responding to"*: saliency
#
# A test digit, the gradient of its predicted class's score with respect to the pixels, and
# SmoothGrad (the gradient averaged over 25 noisy copies).

# %%
print(f"test image 0: label {int(test.labels[0])}")
saliency_panel(model, test, 0)

# %% [markdown]
# ## Lecture: *"Baseball—or stripes?"*: dataset examples against optimization
#
# *"Dataset Examples show us what neurons respond to in practice; Optimization isolates the
# causes of behavior from mere correlations."* For three C3 channels: the top test images
# (left) beside an image optimized from noise to excite the unit at the centre of the
# channel's map (right, 512 steps). A C3 unit sees a 14×14 field of the input, so the
# optimization drives only that middle square (blurred a little by the random jitter); around
# it the image stays near the data's mean, which for MNIST is dark. Where the two disagree,
# the optimized image is closer to the cause.

# %%
channels = [0, 5, 9]
tops = top_examples_many(model, test, "C3", channels, k=9)
for channel, top in zip(channels, tops):
    mine = render(
        model,
        objectives.neuron("C3", channel),
        subject.input_shape,
        subject.mean,
        subject.std,
        RenderConfig(steps=512, snapshots=(0, 48, 512)),
    )
    display(top.beside(mine, f"C3 channel {channel}"))
