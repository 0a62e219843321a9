"""The original study's encoder: a small R(2+1)D network over a stack of T photos.

Kept as a faithful, runnable reference. Its downstream regressor sees a stack
of T copies of one photo, which is why the original's condition 3 could not work.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .heads import clamp_age, full_precision


class Conv2Plus1D(nn.Sequential):
    """A 3D convolution factored into spatial (1, 3, 3) then temporal (3, 1, 1)."""

    def __init__(self, c_in, c_out, stride=1):
        mid = (c_in * c_out * 27) // (c_in * 9 + 3 * c_out)  # parameter count of a full 3x3x3 conv
        super().__init__(
            nn.Conv3d(c_in, mid, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False),
            nn.BatchNorm3d(mid), nn.ReLU(inplace=True),
            nn.Conv3d(mid, c_out, (3, 1, 1), 1, (1, 0, 0), bias=False),
            nn.BatchNorm3d(c_out), nn.ReLU(inplace=True))


class R21DMini(nn.Module):
    """Three (2+1)D blocks; (B, 3, T, H, W) → (B, C, T, H', W') feature map."""

    def __init__(self, widths=(32, 64, 128)):
        super().__init__()
        blocks, c = [], 3
        for i, w in enumerate(widths):
            blocks.append(Conv2Plus1D(c, w, stride=2 if i else 1))
            c = w
        self.blocks = nn.Sequential(*blocks)
        self.out_dim = c

    def forward(self, x):
        return self.blocks(x)


class R21DOrderModel(nn.Module):
    """VCOPN as in the original: pool the clip's feature map, FC layers, T! logits.

    Takes tuples as (B, T, 3, H, W), like the shared2d model, and transposes."""

    def __init__(self, tuple_len: int = 4, encoder: R21DMini | None = None):
        super().__init__()
        self.encoder = encoder or R21DMini()
        d = self.encoder.out_dim
        self.head = nn.Sequential(nn.Linear(d, 512), nn.ReLU(inplace=True), nn.Dropout(0.5),
                                  nn.Linear(512, math.factorial(tuple_len)))

    def forward(self, x):
        f = torch.flatten(nn.functional.adaptive_avg_pool3d(self.encoder(x.transpose(1, 2)), 1), 1)
        with full_precision(f):
            return {"logits": self.head(f.float())}


class R21DRegressor(nn.Module):
    """The original downstream model: a single photo repeated T times through the
    encoder, temporal mean pooling, 1x1 conv → ReLU → pool → Linear(128 → 1).

    Input (B, 3, H, W) (repeated T times) or (B, T, 3, H, W) (augmented copies)."""

    def __init__(self, encoder: R21DMini, tuple_len: int = 4):
        super().__init__()
        self.backbone, self.T = encoder, tuple_len
        self.head = nn.Sequential(nn.Conv2d(encoder.out_dim, 128, 1), nn.ReLU(inplace=True),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 1))

    def forward(self, x):
        if x.dim() == 4:
            x = x.unsqueeze(1).expand(-1, self.T, -1, -1, -1)
        f = self.backbone(x.transpose(1, 2)).mean(dim=2)
        with full_precision(f):
            return clamp_age(self.head(f.float()).squeeze(-1), self.training)

    def param_groups(self, lr: float, backbone_lr_mult: float):
        return [{"params": self.backbone.parameters(), "lr": lr * backbone_lr_mult, "name": "backbone"},
                {"params": self.head.parameters(), "lr": lr, "name": "head"}]
