"""Regression heads and the single-image age regressor."""
from __future__ import annotations

import torch
from torch import nn

# Ages a regressor may predict at inference (evaluation mode); training sees the raw output.
AGE_RANGE = (0.0, 120.0)


def full_precision(x: torch.Tensor):
    """A region where autocast is off: heads and losses run in fp32 even when the backbone runs in
    bf16, whose 8-bit mantissa rounds ages by up to 0.25 years (35.1 → 35.0, 66.7 → 66.5)."""
    return torch.autocast(device_type=x.device.type, enabled=False)


def clamp_age(pred: torch.Tensor, training: bool) -> torch.Tensor:
    return pred if training else pred.clamp(*AGE_RANGE)


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
        f = self.backbone(x)
        with full_precision(f):
            return clamp_age(self.head(f.float()).squeeze(-1), self.training)

    def param_groups(self, lr: float, backbone_lr_mult: float):
        return [{"params": self.backbone.parameters(), "lr": lr * backbone_lr_mult, "name": "backbone"},
                {"params": self.head.parameters(), "lr": lr, "name": "head"}]
