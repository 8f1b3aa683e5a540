"""AlexNet and ResNet for 28×28 and 32×32 inputs (MNIST, Fashion-MNIST, CIFAR).

``alexnet-small`` keeps AlexNet's plan (5 conv layers, 3 fully connected, ReLU, max-pooling,
dropout) with 3×3 kernels and a 1024-unit classifier sized for small images.
``resnet18-small`` / ``resnet34-small`` are torchvision's ResNets with the CIFAR stem of He et
al. (2015, section 4.2): a 3×3 stride-1 first conv and no max-pool, so a 32×32 input keeps
its resolution into layer1.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, ResNet


class AlexNetSmall(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: tuple[int, int] = (28, 28)) -> None:
        super().__init__()
        relu = lambda: nn.ReLU(inplace=True)  # noqa: E731
        self.features = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(in_channels, 64, 3, padding=1),
                relu1=relu(),
                pool1=nn.MaxPool2d(2),
                conv2=nn.Conv2d(64, 192, 3, padding=1),
                relu2=relu(),
                pool2=nn.MaxPool2d(2),
                conv3=nn.Conv2d(192, 384, 3, padding=1),
                relu3=relu(),
                conv4=nn.Conv2d(384, 256, 3, padding=1),
                relu4=relu(),
                conv5=nn.Conv2d(256, 256, 3, padding=1),
                relu5=relu(),
                pool5=nn.MaxPool2d(2),
            )
        )
        h, w = (s // 8 for s in input_size)
        self.classifier = nn.Sequential(
            OrderedDict(
                drop6=nn.Dropout(0.5),
                fc6=nn.Linear(256 * h * w, 1024),
                relu6=relu(),
                drop7=nn.Dropout(0.5),
                fc7=nn.Linear(1024, 1024),
                relu7=relu(),
                fc8=nn.Linear(1024, num_classes),
            )
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)  # (N, 256, H/8, W/8)
        return self.classifier(x.flatten(1))  # (N, num_classes)


def resnet_small(layers: list[int]):
    def build(num_classes: int = 10, in_channels: int = 1, input_size=(32, 32)) -> nn.Module:
        model = ResNet(BasicBlock, layers, num_classes=num_classes)
        model.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()  # pyright: ignore[reportAttributeAccessIssue]  (torchvision types it MaxPool2d)
        return model

    return build
