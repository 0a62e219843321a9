"""Backbone factory: torchvision ResNets, and a small ResNet for CPU presets."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision import models as tvm
from torchvision.models.resnet import BasicBlock

TORCHVISION = {
    "resnet18": (tvm.resnet18, tvm.ResNet18_Weights.IMAGENET1K_V1),
    "resnet34": (tvm.resnet34, tvm.ResNet34_Weights.IMAGENET1K_V1),
    "resnet50": (tvm.resnet50, tvm.ResNet50_Weights.IMAGENET1K_V2),
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


def make_backbone(name: str = "resnet_mini", imagenet: bool = False) -> tuple[nn.Module, int]:
    """(encoder mapping (B, 3, H, W) to (B, D), D).

    imagenet: start from ImageNet weights; they must already be in the local torch
    cache (nothing is downloaded), otherwise FileNotFoundError says where to put them.
    """
    if name == "resnet_mini":
        if imagenet:
            raise ValueError("backbone='resnet_mini' has no ImageNet weights; use resnet18/34/50")
        m = MiniResNet()
        return m, m.out_dim
    if name not in TORCHVISION:
        raise ValueError(f"backbone={name!r} is not one of {', '.join(map(repr, BACKBONES))}")
    ctor, weights = TORCHVISION[name]
    m = ctor(weights=None)
    if imagenet:
        path = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        if not path.exists():
            raise FileNotFoundError(
                f"ImageNet weights for {name} are not cached at {path}. facelib never downloads; "
                f"copy {Path(weights.url).name} there (from {weights.url}) or use imagenet_init=False")
        m.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    dim = m.fc.in_features
    m.fc = nn.Identity()
    return m, dim
