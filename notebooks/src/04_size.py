# %% [markdown]
# Runs in {seconds} s on a 2-core CPU, with no network.
#
# # 04 · The size of a conv net
#
# CSC2515 Lecture 9, slides *Size of a Conv Net*, *AlexNet*, *Inception* and *150 Layers!*,
# with `cnnlab.size.analyze`: units, weights and connections per layer (and MACs and memory),
# counted by following the real forward pass on meta tensors (nothing is allocated, no
# weights are downloaded). README: [The size of a net](../README.md#the-size-of-a-net-cnnlab-size).

# %%
# %matplotlib inline
from IPython.display import HTML

from cnnlab.models import create
from cnnlab.size import analyze

# %% [markdown]
# ## Lecture: *Size of a Conv Net*, "Sizes of layers in LeNet"
#
# The lecture's table counts no biases; `count_bias=False` does the same. Every row matches
# the slide's numbers, which are typed in below as printed.

# %%
LECTURE = {  # layer: (units, connections, weights), as on the slide
    "C1": (4704, 117_600, 150),
    "S2": (1176, 4704, 0),
    "C3": (1600, 240_000, 2400),
    "S4": (400, 1600, 0),
    "F5": (120, 48_000, 48_000),
    "F6": (84, 10_080, 10_080),
    "output": (10, 840, 840),
}
lenet = analyze(create("lenet5"), (1, 28, 28), count_bias=False, name="lenet5")
for row in lenet.layers:
    ours = (row["units"], row["connections"], row["weights"])
    print(
        f"{row['name']:7} {row['type']:16} units {ours[0]:>5,}  connections {ours[1]:>7,}  weights {ours[2]:>6,}  "
        f"{'= the slide' if LECTURE[row['name']] == ours else 'differs from the slide ' + str(LECTURE[row['name']])}"
    )

# %% [markdown]
# The whole report, with MACs, memory and the lecture's rules of thumb computed for the model:

# %%
lenet  # an HTML table in a notebook; print(lenet) gives the text table `cnnlab size lenet5 --no-bias` prints

# %% [markdown]
# ## Lecture: "Conclusions?": units vs weights vs connections
#
# *"Most of the units and connections are in the convolution layers. Most of the weights are
# in the fully connected layers."* Per layer, on a log scale (conv layers shaded):

# %%
lenet.plot()

# %% [markdown]
# ## Lecture: *"You'll repeat this exercise for AlexNet for homework."*
#
# Try it first. torchvision's AlexNet (the one-GPU version of Krizhevsky et al. 2012, whose
# two GPUs held 48 + 48 first-layer filters) takes a 3×224×224 image through five conv layers
# (64 filters of 11×11 at stride 4 with padding 2, then 192 of 5×5, 384, 256 and 256 of 3×3,
# with 3×3 max-pooling at stride 2 after the 1st, 2nd and 5th) and three fully connected
# layers (4096, 4096, 1000). How many units, weights and connections has each layer? The
# answer is in the collapsed cell below (biases counted).

# %%  hidden
alexnet = analyze(create("alexnet"), (3, 224, 224), name="alexnet")
HTML("<details><summary><b>Answer</b> (click to open)</summary>" + alexnet.to_html() + "</details>")

# %% [markdown]
# (Answer continued.) The slide's rules of thumb hold for AlexNet too; its total matches the
# published 61,100,840:

# %%
r = alexnet.rules_of_thumb
print(
    f"weights {alexnet.totals['weights']:,}; conv layers hold {100 * r['conv_share_of_units']:.0f}% of the units and "
    f"{100 * r['conv_share_of_connections']:.0f}% of the connections; the fully connected layers "
    f"{100 * r['fc_share_of_weights']:.0f}% of the weights"
)
alexnet.plot()

# %% [markdown]
# ## Lecture: *Inception*: *"Inception has 'only' 2 million parameters, compared with 60 million for AlexNet"*
#
# Counted: GoogLeNet (torchvision's, the Inception v1 of the slide without its two auxiliary
# classifiers) has 6.6 million, three times the slide's figure, and it does have one fully
# connected layer (the 1024 → 1000 classifier), a sixth of its weights.

# %%
googlenet = analyze(create("googlenet"), (3, 224, 224), name="googlenet")
fc = [row for row in googlenet.layers if row["type"] == "fully connected"]
print(f"GoogLeNet: {googlenet.totals['weights']:,} weights, {googlenet.totals['macs'] / 1e9:.2f} G MACs per image")
print(f"fully connected layers: {[(row['name'], row['weights']) for row in fc]}")
print(
    f"against AlexNet: {alexnet.totals['weights'] / googlenet.totals['weights']:.1f}× fewer weights, "
    f"{googlenet.totals['macs'] / alexnet.totals['macs']:.1f}× the multiply-adds"
)

# %% [markdown]
# ## Lecture: *150 Layers!* (ResNet)
#
# He et al. 2015: residual nets of 18 to 152 layers. Deeper, yet ResNet-152 holds about as
# many weights as AlexNet, almost none of them in fully connected layers.

# %%
for name in ("resnet18", "resnet50", "resnet152"):
    rep = analyze(create(name), (3, 224, 224), name=name)
    fc_share = 100 * rep.rules_of_thumb["fc_share_of_weights"]
    print(
        f"{name:10} {rep.totals['weights']:>11,} weights  {rep.totals['macs'] / 1e9:6.2f} G MACs  "
        f"{rep.totals['units']:>11,} units  {fc_share:4.1f}% of weights fully connected"
    )
