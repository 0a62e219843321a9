"""Backbone factory: torchvision ResNets and MobileNetV2, and a small ResNet for CPU presets."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision import models as tvm
from torchvision.models.resnet import BasicBlock

from ..data.augment import MEAN, STD

TORCHVISION = {
    "resnet18": (tvm.resnet18, tvm.ResNet18_Weights.IMAGENET1K_V1),
    "resnet34": (tvm.resnet34, tvm.ResNet34_Weights.IMAGENET1K_V1),
    "resnet50": (tvm.resnet50, tvm.ResNet50_Weights.IMAGENET1K_V2),
    # ImageNet-initialised and light enough to fine-tune on a CPU (the `mobilenet` preset).
    "mobilenet_v2": (tvm.mobilenet_v2, tvm.MobileNet_V2_Weights.IMAGENET1K_V1),
}
BACKBONES = ("resnet_mini", *TORCHVISION)


class MiniResNet(nn.Module):
    """ResNet-style encoder for small inputs (32–64 px): a 3x3 stride-2 stem and one
    BasicBlock per stage. Far cheaper than ResNet-18 on a CPU."""

    def __init__(self, widths=(32, 64, 128, 256)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 2, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        layers, c_in = [], widths[0]
        for i, c in enumerate(widths):
            stride = 1 if i == 0 else 2
            down = None
            if stride != 1 or c_in != c:
                down = nn.Sequential(nn.Conv2d(c_in, c, 1, stride, bias=False), nn.BatchNorm2d(c))
            layers.append(BasicBlock(c_in, c, stride, down))
            c_in = c
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_dim = c_in

    def forward(self, x):
        return torch.flatten(self.pool(self.layers(self.stem(x))), 1)


class TorchvisionBackbone(nn.Module):
    """A torchvision ResNet or MobileNetV2 without its classifier, taking facelib's normalised input
    ((x / 255 − 0.5) / 0.25, see `facelib.data.augment`) and renormalising it to the statistics its
    weights were trained with (from the weights' own transforms)."""

    def __init__(self, net: nn.Module, mean, std):
        super().__init__()
        self.net = net
        mean, std = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
        # x' = ((x * STD + MEAN) − mean) / std as one scale and shift per channel
        self.register_buffer("scale", STD / std, persistent=False)
        self.register_buffer("shift", (MEAN - mean) / std, persistent=False)

    def forward(self, x):
        return self.net(x * self.scale + self.shift)


def imagenet_state_dict(name: str) -> dict:
    """ImageNet weights of a torchvision backbone, through torchvision's weights API: from the torch
    cache (`torch.hub.get_dir()/checkpoints`), or downloaded there with its hash checked."""
    _, weights = TORCHVISION[name]
    try:
        return weights.get_state_dict(progress=True, check_hash=True)
    except (OSError, RuntimeError) as e:  # no network (URLError is an OSError), or a corrupt download
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        raise RuntimeError(
            f"ImageNet weights for {name} could not be loaded ({type(e).__name__}: {e}); they are read from "
            f"{cached} or downloaded from {weights.url}. Without a network, copy the file there, or set "
            "imagenet_init=False to start from random weights") from e


def make_backbone(name: str = "resnet_mini", imagenet: bool = False) -> tuple[nn.Module, int]:
    """(encoder mapping (B, 3, H, W) to (B, D), D).

    imagenet: start from ImageNet weights (torchvision backbones), through torchvision's weights
    API: the local torch cache, or a download where a network exists (Colab).
    """
    if name == "resnet_mini":
        if imagenet:
            raise ValueError("backbone='resnet_mini' has no ImageNet weights; use resnet18/34/50, mobilenet_v2 or "
                             "imagenet_init=False")
        m = MiniResNet()
        return m, m.out_dim
    if name not in TORCHVISION:
        raise ValueError(f"backbone={name!r} is not one of {', '.join(map(repr, BACKBONES))}")
    ctor, weights = TORCHVISION[name]
    m = ctor(weights=None)
    if imagenet:
        m.load_state_dict(imagenet_state_dict(name))
    if hasattr(m, "fc"):          # ResNets
        dim, m.fc = m.fc.in_features, nn.Identity()
    else:                         # MobileNetV2: pooled features, then its classifier
        dim, m.classifier = m.classifier[-1].in_features, nn.Identity()
    norm = weights.transforms()
    return TorchvisionBackbone(m, norm.mean, norm.std), dim
