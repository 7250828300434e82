"""Classifiers: the paper's LeNet, GoogLeNet, ResNet-50/101 and CPU-sized stand-ins.

Every classifier takes images in [0, 1] and normalizes inside (attacks work in [0, 1]).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torchvision import models as tvm
from torchvision.models.googlenet import BasicConv2d

from ..data.datasets import DatasetInfo


class Classifier(nn.Module):
    """Wraps a network: checks the input shape, normalizes, returns logits."""

    def __init__(self, arch: str, net: nn.Module, info: DatasetInfo):
        super().__init__()
        self.arch = arch
        self.net = net
        self.in_shape = (info.channels, *info.size)
        self.num_classes = info.num_classes
        self.register_buffer("mean", torch.tensor(info.mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(info.std).view(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(
                f"{self.arch} was built for inputs (N, {', '.join(map(str, self.in_shape))}); "
                f"got {tuple(x.shape)}: use the dataset the model was trained on"
            )
        return self.net((x - self.mean) / self.std)


class LeNet(nn.Module):
    """LeNet-5 (LeCun et al. 1998) with ReLU and max pooling; 28x28 inputs are padded to 32x32."""

    def __init__(self, channels: int, size: tuple[int, int], num_classes: int):
        super().__init__()
        pad = 2 if size == (28, 28) else 0
        self.features = nn.Sequential(
            nn.Conv2d(channels, 6, 5, padding=pad),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        n_flat = self.features(torch.zeros(1, channels, *size)).shape[1]
        self.head = nn.Sequential(
            nn.Linear(n_flat, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, num_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


class BasicBlock(nn.Module):
    """Two 3x3 convs with BatchNorm and an identity (or 1x1 projection) shortcut (He et al. 2016)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.short = (
            nn.Identity()
            if stride == 1 and c_in == c_out
            else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.body(x) + self.short(x))


class CifarResNet(nn.Module):
    """The CIFAR ResNet of He et al. 2016, Sec. 4.2: depth 6n+2, widths 16/32/64."""

    def __init__(self, channels: int, num_classes: int, depth: int):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        layers: list[nn.Module] = [
            nn.Conv2d(channels, 16, 3, 1, 1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
        ]
        c_in = 16
        for stage, width in enumerate((16, 32, 64)):
            for i in range(n):
                layers.append(BasicBlock(c_in, width, 2 if stage and not i else 1))
                c_in = width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class Inception(nn.Module):
    """GoogLeNet's Inception module (Szegedy et al. 2015): 1x1, 3x3, double-3x3 and pool branches."""

    def __init__(self, c_in: int, c1: int, c3: int, c5: int, cp: int):
        super().__init__()

        def conv(i, o, k):
            return nn.Sequential(
                nn.Conv2d(i, o, k, padding=k // 2, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)
            )

        self.b1 = conv(c_in, c1, 1)
        self.b3 = nn.Sequential(conv(c_in, c3 // 2, 1), conv(c3 // 2, c3, 3))
        self.b5 = nn.Sequential(conv(c_in, c5 // 2, 1), conv(c5 // 2, c5, 3), conv(c5, c5, 3))
        self.bp = nn.Sequential(nn.MaxPool2d(3, 1, 1), conv(c_in, cp, 1))
        self.c_out = c1 + c3 + c5 + cp

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], 1)


class SmallInception(nn.Module):
    """A CPU-sized GoogLeNet stand-in: a strided 3x3 stem and three Inception modules."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        i1 = Inception(32, 16, 16, 8, 8)
        i2 = Inception(i1.c_out, 32, 32, 16, 16)
        i3 = Inception(i2.c_out, 48, 48, 16, 16)
        self.net = nn.Sequential(
            nn.Conv2d(channels, 32, 3, 2, 1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            i1,
            i2,
            nn.MaxPool2d(2),
            i3,
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(i3.c_out, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class FastCNN(nn.Module):
    """A fast CPU classifier for the faithful stand-ins: three stages of widths ``widths``, each a
    3x3 conv, a residual pair of 3x3 convs and a 2x2 max pool, BatchNorm and GELU throughout (the
    shape of the fast CIFAR-10 training nets after Page's ResNet-9), then global max pool and a
    linear head scaled by 1/8 (small logits at the start, which label smoothing likes)."""

    def __init__(self, channels: int, num_classes: int, widths: tuple[int, int, int] = (32, 64, 128)):
        super().__init__()

        def conv(i: int, o: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.GELU())

        stages: list[nn.Module] = []
        c_in = channels
        for width in widths:
            stages += [
                conv(c_in, width),
                _Residual(nn.Sequential(conv(width, width), conv(width, width))),
                nn.MaxPool2d(2),
            ]
            c_in = width
        self.net = nn.Sequential(*stages, nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes))
        self.scale = 0.125

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x) * self.scale


class _Residual(nn.Module):
    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def _torchvision_resnet(depth: int) -> Callable[[int, int], nn.Module]:
    def build(channels: int, num_classes: int) -> nn.Module:
        net = {50: tvm.resnet50, 101: tvm.resnet101}[depth](num_classes=num_classes)
        net.conv1 = nn.Conv2d(channels, 64, 3, 1, 1, bias=False)  # small inputs: no 7x7/2 stem
        net.maxpool = nn.Identity()
        return net

    return build


def _googlenet(channels: int, num_classes: int) -> nn.Module:
    net = tvm.googlenet(num_classes=num_classes, aux_logits=False, init_weights=True)
    net.conv1 = BasicConv2d(channels, 64, kernel_size=3, padding=1)
    net.maxpool1 = nn.Identity()
    net.maxpool2 = nn.Identity()
    return net


_BUILDERS: dict[str, Callable[[DatasetInfo], nn.Module]] = {
    "lenet": lambda i: LeNet(i.channels, i.size, i.num_classes),
    "resnet20": lambda i: CifarResNet(i.channels, i.num_classes, 20),
    "resnet32": lambda i: CifarResNet(i.channels, i.num_classes, 32),
    "small_inception": lambda i: SmallInception(i.channels, i.num_classes),
    "fast_cnn": lambda i: FastCNN(i.channels, i.num_classes),
    "fast_cnn_wide": lambda i: FastCNN(i.channels, i.num_classes, (64, 128, 256)),
    "googlenet": lambda i: _googlenet(i.channels, i.num_classes),
    "resnet50": lambda i: _torchvision_resnet(50)(i.channels, i.num_classes),
    "resnet101": lambda i: _torchvision_resnet(101)(i.channels, i.num_classes),
}
CLASSIFIERS = tuple(_BUILDERS)
PAPER_TO_STANDIN = {"lenet": "lenet", "googlenet": "small_inception", "resnet50": "fast_cnn", "resnet101": "resnet32"}
DISPLAY = {
    "lenet": "LeNet",
    "resnet20": "ResNet-20",
    "resnet32": "ResNet-32 (stand-in for ResNet-101)",
    "small_inception": "Small Inception (stand-in for GoogLeNet)",
    "googlenet": "GoogLeNet",
    "resnet50": "ResNet-50",
    "resnet101": "ResNet-101",
    "fast_cnn": "Fast CNN 32/64/128 (stand-in for ResNet-50)",
    "fast_cnn_wide": "Fast CNN 64/128/256",
}


def build_classifier(arch: str, info: DatasetInfo) -> Classifier:
    """A freshly initialised classifier ``arch`` for images described by ``info``."""
    if arch not in _BUILDERS:
        raise ValueError(f"unknown classifier {arch!r}; valid: {', '.join(CLASSIFIERS)}")
    return Classifier(arch, _BUILDERS[arch](info), info)


def paper_network(arch: str) -> str:
    """The paper's classifier that ``arch`` is (or stands in for)."""
    return {standin: paper for paper, standin in PAPER_TO_STANDIN.items()}.get(arch, arch)
