"""The model zoo: ``create(name, ...)`` builds any registered model; ``list_models()`` names them.

>>> from cnnlab.models import create, list_models
>>> "lenet5" in list_models()
True

The table below is the registry: name, builder, input, and the training recipe that
``cnnlab train --model NAME`` starts from (flags override it).
"""

import functools

from cnnlab.models.baselines import FCBaseline, LocalBaseline
from cnnlab.models.imagenet import MIN_SIZE, TORCHVISION_NAMES, torchvision_model
from cnnlab.models.lenet import LeNet5
from cnnlab.models.lenet1998 import LeNet5_1998
from cnnlab.models.mnist_nets import MnistBest, MnistFast
from cnnlab.models.registry import ModelSpec, create, get_spec, list_models, register
from cnnlab.models.small import AlexNetSmall, resnet_small

IMAGENET = (3, 224, 224)
# mnist-best's recipe; fashion-best trains longer with clothes' augmentations on top. 15 epochs
# fit 15 minutes of this 2-core AMD EPYC with --compile (18 took 1,000 s); on a held-out 10k of
# the training set (--validation 10000) 10 and 20 epochs scored alike (99.53%), and the 'affine'
# augmentation did no better than shifts (99.51% at both; issue 19,
# benchmarks/results/mnist_best_validation.json)
BEST_RECIPE = {
    "epochs": 15,
    "batch_size": 128,
    "lr": 4e-3,
    "weight_decay": 5e-2,
    "label_smoothing": 0.1,
    "augment": "shift",
}
SMALL_FOR_IMAGENET = "resnet18-small"

for spec in (
    ModelSpec(
        "lenet5",
        LeNet5,
        "LeNet-5 as in the lecture's size table: C1-S2-C3-S4-F5-F6-output, ReLU, max-pooling (61.7k params)",
        min_size=28,
        recipe={"epochs": 5, "batch_size": 128, "lr": 3e-3, "label_smoothing": 0.1},
    ),
    ModelSpec(
        "lenet5-1998",
        LeNet5_1998,
        "LeNet-5 as LeCun et al. 1998 built it: scaled tanh, trainable subsampling, C3's partial connection table, RBF output (60,000 params)",
        min_size=16,
        # without the ±2 px shifts: 98.86% (lr 2e-3) and 98.95% (lr 1e-3), short of the paper's 99.05%
        recipe={"epochs": 20, "batch_size": 64, "lr": 2e-3, "label_smoothing": 0.0, "augment": "shift"},
    ),
    ModelSpec(
        "mnist-fast",
        MnistFast,
        "two strided convs + FC 128, no pooling: MNIST 99% in ~7 s on 2 CPU cores (314k params)",
        min_size=8,
        recipe={"epochs": 2, "batch_size": 128, "lr": 5e-3, "label_smoothing": 0.1},
    ),
    ModelSpec(
        "mnist-race",
        functools.partial(MnistFast, crop=20, width=16, batch_norm=True),
        "mnist-fast at 2/3 width, with batch norm, on the centre 20×20 of each digit: the time-to-99% net (109k params)",
        min_size=8,
        # chosen on a held-out 10k of the training set (benchmarks/results/mnist_race_heldout.json):
        # Adam's short memory (beta1 0.7, beta2 0.9, not cycled) and twice the peak lr reach in
        # 2 epochs what the earlier recipe (lr 1e-2, cycled beta1, beta2 0.999) reached in 3
        # (sweep_2); batch norm after each conv reaches 98.9% a quarter epoch sooner (sweep_4)
        recipe={
            "epochs": 2,
            "batch_size": 256,
            "lr": 2e-2,
            "momentum": 0.7,
            "beta2": 0.9,
            "cycle_momentum": False,
            "weight_decay": 1e-2,
            "label_smoothing": 0.1,
        },
    ),
    ModelSpec(
        "mnist-best",
        MnistBest,
        "five 3×3 conv-BN-ReLU blocks, global average pool: the accuracy-first MNIST net (140k params)",
        min_size=8,
        recipe=BEST_RECIPE,
    ),
    ModelSpec(
        "fashion-best",
        functools.partial(MnistBest, head="flatten"),
        "mnist-best's five blocks with a flattening head (where a feature is, not only whether): for Fashion-MNIST (202k params)",
        min_size=8,
        recipe={**BEST_RECIPE, "epochs": 30, "augment": "shift+flip+erase"},
    ),
    ModelSpec(
        "alexnet-small",
        AlexNetSmall,
        "AlexNet's plan (5 conv + 3 FC, ReLU, max-pool, dropout) for 28×28 / 32×32 inputs",
        min_size=8,
        recipe={"epochs": 10, "batch_size": 128, "lr": 1e-3},
    ),
    ModelSpec(
        "resnet18-small",
        resnet_small([2, 2, 2, 2]),
        "ResNet-18 with the CIFAR stem (3×3 conv, no max-pool) for 28×28 / 32×32 inputs",
        min_size=8,
        recipe={"epochs": 10, "batch_size": 128, "lr": 2e-3, "weight_decay": 5e-2},
    ),
    ModelSpec(
        "resnet34-small",
        resnet_small([3, 4, 6, 3]),
        "ResNet-34 with the CIFAR stem for 28×28 / 32×32 inputs",
        min_size=8,
        recipe={"epochs": 10, "batch_size": 128, "lr": 2e-3, "weight_decay": 5e-2},
    ),
    ModelSpec(
        "fc-baseline",
        FCBaseline,
        "fully connected baseline: FC 1024 → FC 128 → output (the invariance experiment)",
        recipe={"epochs": 5, "lr": 1e-3},
    ),
    ModelSpec(
        "lc-baseline",
        functools.partial(LocalBaseline, shared=False),
        "locally connected baseline: LC 16@5×5, pool, LC 32@5×5, pool, FC 128 (the invariance experiment)",
        min_size=4,
        recipe={"epochs": 5, "lr": 1e-3},
    ),
    ModelSpec(
        "conv-baseline",
        functools.partial(LocalBaseline, shared=True),
        "conv baseline with the lc-baseline's units, weights shared (the invariance experiment)",
        min_size=4,
        recipe={"epochs": 5, "lr": 1e-3},
    ),
):
    register(spec)

for _name in TORCHVISION_NAMES:
    register(
        ModelSpec(
            _name,
            torchvision_model(_name),
            f"torchvision {_name} at ImageNet shape; --weights DEFAULT for the pretrained weights",
            input_shape=IMAGENET,
            flexible=True,
            min_size=MIN_SIZE[_name],
            alternative=SMALL_FOR_IMAGENET,
            num_classes=1000,
            recipe={"epochs": 90, "batch_size": 256, "lr": 1e-3, "weight_decay": 5e-2},
        )
    )

__all__ = ["LeNet5", "ModelSpec", "create", "get_spec", "list_models", "register"]
