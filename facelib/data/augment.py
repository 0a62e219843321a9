"""Augmentation of whole batches on their device, vectorised over images.

Datasets hand over uint8 faces; the training step turns a batch into normalised
floats here, with one random crop, flip and colour change per image (for order
tuples: per photo). One grid_sample and a few tensor ops per batch replace a
Python loop of per-image transforms, so the data path keeps up with a GPU.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

MEAN, STD = 0.5, 0.25
_LUMA = torch.tensor([0.299, 0.587, 0.114])


def normalize_batch(x: torch.Tensor) -> torch.Tensor:
    """uint8 (..., 3, H, W) → normalised float, no augmentation (evaluation)."""
    return (x.float() / 255 - MEAN) / STD


def is_greyscale(x: torch.Tensor, max_chroma: float = 6.0) -> torch.Tensor:
    """uint8 (..., 3, H, W) → bool (...): photos with no colour (a greyscale print or scan).
    Chroma = max − min over the channels, averaged over the pixels; below `max_chroma` (of 255)
    is grey."""
    x = x.float()
    return (x.amax(-3) - x.amin(-3)).mean((-2, -1)) < max_chroma


class BatchAugment(nn.Module):
    """Per-image random resized crop (scale, aspect), horizontal flip, brightness, contrast,
    saturation and greyscale, for a uint8 batch (..., 3, H, W); returns normalised floats.

    They keep age cues but break shortcuts: crop position, left/right, colour cast and the
    film/digital tone of a photo."""

    def __init__(self, scale=(0.8, 1.0), ratio=(0.92, 1.08), flip=0.5, brightness=0.3, contrast=0.3,
                 saturation=0.4, grayscale=0.2):
        super().__init__()
        self.scale, self.ratio, self.flip = scale, ratio, flip
        self.brightness, self.contrast, self.saturation, self.grayscale = brightness, contrast, saturation, grayscale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead, (c, h, w) = x.shape[:-3], x.shape[-3:]
        x = x.reshape(-1, c, h, w).float() / 255
        n, dev = x.shape[0], x.device

        def u(lo, hi):
            return torch.empty(n, device=dev).uniform_(lo, hi)

        # Random resized crop and flip as one affine map of the sampling grid.
        area = u(*self.scale)
        logr = u(math.log(self.ratio[0]), math.log(self.ratio[1]))
        sw = torch.sqrt(area * torch.exp(logr)).clamp(max=1.0)
        sh = torch.sqrt(area / torch.exp(logr)).clamp(max=1.0)
        tx = (torch.rand(n, device=dev) * 2 - 1) * (1 - sw)
        ty = (torch.rand(n, device=dev) * 2 - 1) * (1 - sh)
        sign = torch.where(torch.rand(n, device=dev) < self.flip, -1.0, 1.0)
        theta = torch.zeros(n, 2, 3, device=dev)
        theta[:, 0, 0], theta[:, 0, 2] = sw * sign, tx
        theta[:, 1, 1], theta[:, 1, 2] = sh, ty
        grid = F.affine_grid(theta, (n, c, h, w), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

        luma = _LUMA.to(dev).view(1, 3, 1, 1)
        x = x * u(1 - self.brightness, 1 + self.brightness).view(n, 1, 1, 1)
        grey = (x * luma).sum(1, keepdim=True)
        mean = grey.mean((2, 3), keepdim=True)
        x = (x - mean) * u(1 - self.contrast, 1 + self.contrast).view(n, 1, 1, 1) + mean
        grey = (x * luma).sum(1, keepdim=True)
        x = (x - grey) * u(1 - self.saturation, 1 + self.saturation).view(n, 1, 1, 1) + grey
        to_grey = (torch.rand(n, device=dev) < self.grayscale).view(n, 1, 1, 1)
        x = torch.where(to_grey, grey.expand_as(x), x).clamp(0, 1)
        return ((x - MEAN) / STD).reshape(*lead, c, h, w)
