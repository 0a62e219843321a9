"""Checkpoint files: written atomically, read with a clear error.

Ground floor: it imports only torch."""
from __future__ import annotations

import os
from pathlib import Path

import torch


class CheckpointError(RuntimeError):
    """A checkpoint file exists but cannot be read (truncated or corrupt)."""


def save_atomic(obj, path) -> None:
    """torch.save to a temporary file, then rename: a kill never leaves a truncated file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path, map_location="cpu") -> dict:
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"{path}: checkpoint cannot be read ({type(e).__name__}: {e}); "
                              "delete it to start this run again") from e
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise CheckpointError(f"{path}: not a facelib checkpoint (expected a dict with 'model')")
    return ckpt
