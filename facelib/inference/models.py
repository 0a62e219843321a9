"""The trained conditions of one model seed, loaded with their provenance, and one model's age of a
prepared face: what `facelib predict` and `check-predict` answer with."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..checkpoints import CheckpointError, load_checkpoint
from ..config import CONDITIONS
from ..data.augment import normalize_batch
from ..data.datasets import to_tensor
from ..models.build import model_from_checkpoint, regressor_of


class WeightsError(RuntimeError):
    """Weights that cannot be used: unreadable, of another architecture, or of different data."""


@dataclass
class Models:
    """The trained conditions of one model seed, and where they came from."""
    models: dict           # condition → (regressor, config)
    weights_dir: Path
    seed: int | None
    data: str              # "synthetic" or "real"
    data_id: str
    preset: str

    @property
    def synthetic(self) -> bool:
        return self.data == "synthetic"

    @property
    def provenance(self) -> str:
        seed = f"seed {self.seed}" if self.seed is not None else "no seed folder"
        what = ("trained on synthetic faces: ages are not meaningful for real photos" if self.synthetic
                else f"trained on real photographs ({self.data_id})")
        return f"models: {', '.join(self.models)} from {self.weights_dir} ({seed}, preset {self.preset}; {what})"


def seed_dir(weights_dir: Path, seed: int | None = None) -> tuple[Path, int | None]:
    """The folder of one model seed's weights: weights/seed<k>/ (the lowest seed unless `seed` is
    given); the folder itself only when it holds no seed folders (weights written before seeds)."""
    weights_dir = Path(weights_dir)
    seeds = sorted(int(p.name[4:]) for p in weights_dir.glob("seed*") if p.name[4:].isdigit() and p.is_dir())
    if seed is not None:
        if seed not in seeds:
            raise FileNotFoundError(f"{weights_dir}: no weights of seed {seed} (seeds there: {seeds or 'none'})")
        return weights_dir / f"seed{seed}", seed
    if seeds:
        return weights_dir / f"seed{seeds[0]}", seeds[0]
    return weights_dir, None


def load_models(paths, seed: int | None = None, names=CONDITIONS) -> Models:
    """The trained conditions of one model seed, with their provenance. Raises FileNotFoundError
    when there are none, and WeightsError for weights that are unreadable, of another architecture,
    or trained on different data from each other."""
    folder, seed = (paths.weights_dir, paths.seed) if paths.seed is not None else seed_dir(paths.weights_dir, seed)
    found = [n for n in names if (folder / f"{n}.pt").exists()]
    if not found:
        raise FileNotFoundError(f"no trained conditions under {folder} (looked for "
                                f"{', '.join(n + '.pt' for n in names)}); run `facelib run` first")
    models, origin = {}, {}
    for name in found:
        path = folder / f"{name}.pt"
        try:
            ckpt = load_checkpoint(path)
            model, cfg = model_from_checkpoint(name, ckpt)
        except CheckpointError as e:
            raise WeightsError(str(e).split(";")[0] + "; train it again (or delete it)") from None
        except (RuntimeError, KeyError, TypeError, ValueError) as e:
            first = str(e).strip().splitlines()[0][:160]
            raise WeightsError(f"{path}: not weights of a facelib {name} model this version can load ({first})") from None
        models[name] = (regressor_of(model).eval(), cfg)
        origin[name] = (ckpt.get("data", "unknown"), ckpt.get("data_id", ""), ckpt.get("preset", cfg.preset))
    if len(set(origin.values())) > 1:
        raise WeightsError("the conditions under " + str(folder) + " were trained on different data ("
                           + "; ".join(f"{n}: {d} {i} {p}" for n, (d, i, p) in origin.items())
                           + "); train them again on one data folder, or pass --weights of one study")
    data, data_id, preset = next(iter(origin.values()))
    return Models(models, folder, seed, data, data_id, preset)



@torch.no_grad()
def model_age(model, face: np.ndarray) -> float:
    """One model's age of one prepared face (uint8, H x W x 3, at the model's input size)."""
    return float(model(normalize_batch(to_tensor(face)[None]))[0])
