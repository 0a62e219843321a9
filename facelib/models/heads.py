"""Regression heads and the single-image age regressor."""
from __future__ import annotations

import torch
from torch import nn


class SimpleHead(nn.Sequential):
    """The original baseline head: dropout → 256 → 1."""

    def __init__(self, in_dim: int, dropout: float = 0.2):
        super().__init__(nn.Dropout(dropout), nn.Linear(in_dim, 256), nn.ReLU(inplace=True), nn.Linear(256, 1))


class KoreanHead(nn.Sequential):
    """The original fine-tuning head: 1024 → BN → ReLU → dropout 0.5 → 512 → BN → ReLU → dropout 0.3 → 1."""

    def __init__(self, in_dim: int):
        super().__init__(
            nn.Linear(in_dim, 1024), nn.BatchNorm1d(1024), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(1024, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True), nn.Dropout(0.3),
            nn.Linear(512, 1))


def set_output_bias(head: nn.Module, value: float) -> None:
    """Start the last layer at the training mean age, so training begins at the mean predictor."""
    last = [m for m in head.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        last.bias.fill_(value)


class AgeRegressor(nn.Module):
    """backbone + head: (B, 3, H, W) → (B,) ages."""

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, x):
        return self.head(self.backbone(x)).squeeze(-1)

    def param_groups(self, lr: float, backbone_lr_mult: float):
        return [{"params": self.backbone.parameters(), "lr": lr * backbone_lr_mult, "name": "backbone"},
                {"params": self.head.parameters(), "lr": lr, "name": "head"}]
