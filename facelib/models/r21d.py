"""The original prototype's design: a small R(2+1)D network over a stack of T photos.

`R21DOriginal` and `R21DOrderModel` follow the original's `MiniR2Plus1D` and `VCOPN` layer for
layer: widths 64 / 128 / 512; a 7×7 spatial stem with stride 2 (the only downsampling); each 3D
convolution factored into a spatial convolution → batch norm → ReLU → a temporal convolution with
nothing after it; the clip's feature map pooled whole, then 512 → 1024 → ReLU → T! logits, no
dropout. 2.55 M parameters at T = 4. Its downstream regressor sees a stack of T copies of one photo
(as the original fed it), which is why the original's condition 3 could not work; it pools the
feature map to 7×7 before its head, as the original's did (the layers after that pool are
facelib's: the original's regressor file was not available to compare).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .heads import clamp_age, full_precision


class SpatioTemporalConv(nn.Module):
    """A (t, k, k) 3D convolution factored as the original's: spatial (1, k, k) → BN → ReLU →
    temporal (t, 1, 1), with the middle width chosen so the parameter count matches the full 3D
    convolution's."""

    def __init__(self, c_in: int, c_out: int, kernel, stride=(1, 1, 1), padding=(0, 0, 0)):
        super().__init__()
        kt, kh, kw = kernel
        mid = (kt * kh * kw * c_in * c_out) // (kh * kw * c_in + kt * c_out)
        self.spatial = nn.Conv3d(c_in, mid, (1, kh, kw), (1, stride[1], stride[2]), (0, padding[1], padding[2]),
                                 bias=False)
        self.bn = nn.BatchNorm3d(mid)
        self.relu = nn.ReLU(inplace=True)
        self.temporal = nn.Conv3d(mid, c_out, (kt, 1, 1), (stride[0], 1, 1), (padding[0], 0, 0), bias=False)

    def forward(self, x):
        return self.temporal(self.relu(self.bn(self.spatial(x))))


class R21DOriginal(nn.Module):
    """The original's encoder: (B, 3, T, H, W) → (B, 512, T, H/2, W/2) feature map."""

    def __init__(self, width: int = 512):
        super().__init__()
        self.blocks = nn.Sequential(
            SpatioTemporalConv(3, 64, (1, 7, 7), (1, 2, 2), (0, 3, 3)),
            SpatioTemporalConv(64, 128, (3, 3, 3), (1, 1, 1), (1, 1, 1)),
            SpatioTemporalConv(128, width, (3, 3, 3), (1, 1, 1), (1, 1, 1)))
        self.out_dim = width

    def forward(self, x):
        return self.blocks(x)


class R21DOrderModel(nn.Module):
    """The original's VCOPN: pool the clip's feature map whole, 512 → 1024 → ReLU → T! logits.

    Takes tuples as (B, T, 3, H, W), like the shared2d model, and transposes."""

    def __init__(self, tuple_len: int = 4, encoder: R21DOriginal | None = None):
        super().__init__()
        self.encoder = encoder or R21DOriginal()
        d = self.encoder.out_dim
        self.head = nn.Sequential(nn.Linear(d, 1024), nn.ReLU(inplace=True), nn.Linear(1024, math.factorial(tuple_len)))

    def forward(self, x):
        f = torch.flatten(nn.functional.adaptive_avg_pool3d(self.encoder(x.transpose(1, 2)), 1), 1)
        with full_precision(f):
            return {"logits": self.head(f.float())}


class R21DRegressor(nn.Module):
    """The original's downstream model: a single photo repeated T times through the encoder,
    mean over time, a 7×7 pool, then 1×1 conv → ReLU → pool → Linear(128 → 1).

    Input (B, 3, H, W) (repeated T times) or (B, T, 3, H, W) (augmented copies)."""

    def __init__(self, encoder: R21DOriginal, tuple_len: int = 4):
        super().__init__()
        self.backbone, self.T = encoder, tuple_len
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(7), nn.Conv2d(encoder.out_dim, 128, 1), nn.ReLU(inplace=True),
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
