"""Where and how a model runs: the device, the mixed precision, channels_last, seeds.

Ground floor: `data/`, `models/` and everything above may import it; it imports only torch."""
from __future__ import annotations

import contextlib
import random

import numpy as np
import torch
from torch import nn


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def amp_dtype(device) -> torch.dtype | None:
    """The mixed precision of training and inference on `device`: bf16 where the GPU does it in
    hardware (compute capability 8.0 and later: A100, L4, H100), fp16 (with a GradScaler in `fit`)
    below that (T4, V100, P100), None on the CPU. `torch.cuda.is_bf16_supported()` is not used: it
    is True on a T4 too, through emulation, without tensor cores."""
    device = resolve_device(device) if isinstance(device, str) else device
    if device.type != "cuda":
        return None
    major, _ = torch.cuda.get_device_capability(device)
    return torch.bfloat16 if major >= 8 else torch.float16


def autocast(device: torch.device, enabled: bool):
    """Autocast at `amp_dtype(device)`; a no-op context on CPU or when disabled."""
    dtype = amp_dtype(device) if enabled else None
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=dtype)


def channels_last(model: nn.Module) -> nn.Module:
    """channels_last for the 2D convolutions only: `Module.to(memory_format=...)` raises on
    the 5D weights of r21d_original's 3D convolutions."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.to(memory_format=torch.channels_last)
    return model


def to_device(batch, device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, device) for b in batch)
    return batch
