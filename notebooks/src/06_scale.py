# %% [markdown]
# Runs in {seconds} s on a 2-core CPU, with no network.
#
# # 06 · From MNIST to ImageNet
#
# CSC2515 Lecture 9, slides *ImageNet* and *AlexNet* ("16.4% top-5 error", "the network
# couldn't fit on one GPU"): the same `cnnlab train` on an ImageNet-style image tree, top-5
# accuracy, mixed precision, resuming a run, and the `torchrun` commands for many GPUs. The
# tree here is tiny and generated (6 colours of shapes, 72 training images), so the
# run takes seconds; an ImageNet run is the same call with `data_dir` pointing at ImageNet.
# README: [From MNIST to ImageNet](../README.md#from-mnist-to-imagenet-cnnlab-train-at-scale).

# %%
# %matplotlib inline
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw

from cnnlab.runs import Run
from cnnlab.train.evaluation import confusion_figure, evaluate_run
from cnnlab.train.run import config_for, run_training

# %% [markdown]
# ## Lecture: *ImageNet*, "1.2 million full-sized images ... hundreds of kinds of dogs", in miniature
#
# ImageNet's layout: `ROOT/train/<class>/*.jpg` and `ROOT/val/<class>/*.jpg`. Six classes,
# one per colour, of squares and discs at random positions and sizes, 40×48 pixels.

# %%
root = Path(tempfile.mkdtemp(prefix="cnnlab-tree-")) / "tree"
rng = np.random.default_rng(0)
colours = {
    "red": (220, 40, 40),
    "green": (40, 190, 40),
    "blue": (40, 40, 220),
    "yellow": (230, 210, 30),
    "magenta": (210, 40, 210),
    "cyan": (40, 200, 210),
}
for split, count in (("train", 12), ("val", 6)):
    for colour, rgb in colours.items():
        folder = root / split / colour
        folder.mkdir(parents=True)
        for i in range(count):
            img = PILImage.new("RGB", (48, 40), "white")
            size = int(rng.integers(22, 36))
            x, y = int(rng.integers(0, 48 - size)), int(rng.integers(0, 40 - size))
            draw = ImageDraw.Draw(img)
            (draw.rectangle if rng.random() < 0.5 else draw.ellipse)((x, y, x + size, y + size), fill=rgb)
            img.save(folder / f"{i}.png")
print(sorted(p.name for p in (root / "train").iterdir()))
print(len(list(root.glob("train/*/*.png"))), "training and", len(list(root.glob("val/*/*.png"))), "validation images")

# %% [markdown]
# ## Training on an image tree, in mixed precision
#
# `dataset="imagefolder"` decodes the images (in DataLoader workers when `workers` > 0), with
# the standard augmentation (random resized crop, flip) and ImageNet's normalization;
# `resize=32` makes 32×32 crops for a 3-channel LeNet-5. `amp="bf16"` runs the forward pass
# under bfloat16 autocast (`--amp fp16` adds a gradient scaler on a GPU); on a CPU without
# bf16 units it is slower, not faster (README, "Speed options"). 2 epochs first. Seconds vary.

# %%  tags=["nondeterministic"]
out = root.parent / "run"
cfg = config_for(
    "lenet5",
    dataset="imagefolder",
    data_dir=str(root),
    resize=32,
    epochs=2,
    batch_size=12,
    lr=1e-2,
    workers=0,
    amp="bf16",
    device="cpu",
    seed=0,
)


def echo(line):
    print(line.replace(str(root.parent), "$TMP"))  # the temporary folder's name changes every run


summary = run_training(cfg, out=out, quiet=True, echo=echo)

# %% [markdown]
# ## Resume
#
# Every epoch (and every `checkpoint_every` steps) writes a checkpoint: model, optimizer,
# schedule, random-number states and the position in the epoch's shuffle order. `resume`
# continues a run with its own config; `epochs` extends it (the schedule is stretched to the
# new total). A run killed mid-epoch and resumed ends with the same weights, bit for bit, as
# one that was never stopped (tested in `tests/train/test_resume.py`).

# %%  tags=["nondeterministic"]
summary = run_training(None, resume=out, epochs=6, quiet=True, echo=echo)
run = Run.open(out)
print([row["epoch"] for row in run.metrics], "epochs in metrics.jsonl, none lost or repeated")
run

# %% [markdown]
# ## Lecture: *AlexNet*, "16.4% top-5 error (i.e. the network gets 5 tries to guess the right category)"
#
# `evaluate_run` (`cnnlab eval RUN`) reloads the weights and reports top-1 and top-5 accuracy,
# per-class accuracy and the confusion matrix. With 6 classes, top-5 is nearly free; on
# ImageNet's 1,000 it is the lecture's measure.

# %%  tags=["nondeterministic"]
result = evaluate_run(out, device="cpu")
print(
    f"top-1 {100 * result['test_accuracy']:.1f}%, top-5 {100 * result['test_top5_accuracy']:.1f}% "
    f"(top-5 error {100 * result['test_top5_error']:.1f}%)"
)
print("per class:", {k: f"{100 * v:.0f}%" for k, v in result["per_class_accuracy"].items()})
confusion_figure(result["confusion"], tuple(result["per_class_accuracy"]), "lenet5 on the generated tree")

# %% [markdown]
# ## Many GPUs: the exact `torchrun` commands
#
# With `torchrun`, `cnnlab train` runs DistributedDataParallel over NCCL (GPUs) or gloo
# (CPUs); `--batch-size` stays the global batch. Not run here (this is a CPU): the command
# for this notebook's run on 4 GPUs of one machine (its flags are the ones that differ from
# the model's recipe), and ResNet-50 on ImageNet on two machines of 8 GPUs each.

# %%
ran = Run.open(out).config  # the run's config as it ran (6 epochs after the resume)
recipe = config_for(ran.model)  # what `cnnlab train --model lenet5` starts from
changed = {k: v for k, v in ran.to_dict().items() if v != getattr(recipe, k) and k not in ("device", "data_dir")}
flags = " ".join(
    f"--{'' if v else 'no-'}{k.replace('_', '-')}" if isinstance(v, bool) else f"--{k.replace('_', '-')} {v}"
    for k, v in changed.items()
)
one_machine = f"torchrun --standalone --nproc-per-node 4 -m cnnlab train --model {ran.model} --data-dir ROOT {flags}"
two_machines = (
    "torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST0:29500 --rdzv-id myrun "
    "-m cnnlab train --model resnet50 --dataset imagefolder --data-dir /data/imagenet --batch-size 1024 --amp bf16"
)
print("# one machine, 4 GPUs (or 4 CPU processes: add --device cpu)")
print(one_machine)
print("# two machines with 8 GPUs each: run on both, HOST0 being the first machine's address")
print(two_machines)
print("# continue either after a stop: torchrun ... -m cnnlab train --resume RUN_DIR")
