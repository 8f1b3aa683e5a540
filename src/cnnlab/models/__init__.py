"""The model zoo: ``create(name, ...)`` builds any registered model; ``list_models()`` names them.

>>> from cnnlab.models import create, list_models
>>> "lenet5" in list_models()
True
"""

from cnnlab.models.lenet import LeNet5
from cnnlab.models.registry import ModelSpec, create, get_spec, list_models, register

register(
    ModelSpec(
        name="lenet5",
        build=LeNet5,
        summary="LeNet-5 as in the lecture's size table: C1-S2-C3-S4-F5-F6-output, ReLU, max-pooling (61.7k params)",
        min_size=28,
        recipe={"epochs": 5, "batch_size": 128, "lr": 3e-3, "label_smoothing": 0.1},
    )
)

__all__ = ["LeNet5", "ModelSpec", "create", "get_spec", "list_models", "register"]
