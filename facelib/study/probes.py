"""Frozen-encoder probes: what a pretrained encoder already knows of age before any age label touches it.

For one model seed, each encoder of the study's pretraining: its weights before pretraining
(`pretext_start`, saved by `vcop`: random, or ImageNet's with `imagenet_init`), after the order task
(`vcop`) and after the supervised pretext (`supervised_pretext`). The encoder is frozen; its
features are standardised (on the probe's training faces) and two probes read age from them, each
with its one setting chosen on a validation split, never by cross-validation on the training
features: a ridge regression (alpha) and a k-nearest-neighbour regression (k), fitted

- on the identities' fine-tuning people (`finetune_train`, the setting chosen on `finetune_val`), and
- on a fixed sample of UTKFace training chips (the setting chosen on a fixed sample of UTKFace val).

Each is tested on the test split and on the identities' held-out people, beside the mean predictor
of its own training ages. One record per encoder (`probe_<encoder>.json`), keyed to that encoder's
weights and to every split it read, so that a stale probe is left out like any other result."""
from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.preprocessing import StandardScaler
from torch.utils.data import Subset

from ..checkpoints import load_checkpoint
from ..config import SUPERVISED_PRETEXT, TEST_SPLIT, Config
from ..data.cache import FaceCache
from ..data.datasets import FaceDataset
from ..data.loaders import make_loader
from ..models.backbones import make_backbone
from ..paths import Paths
from ..registry import notebook_of, weights_path
from ..runtime import autocast, resolve_device
from .conditions import identities as identities_of
from .provenance import CODE_VERSION, data_kind, git_commit, state_hash, versions
from .records import write_result
from .tasks import model_input

ENCODERS = ("pretext_start", "vcop", SUPERVISED_PRETEXT)
# Each probe and the one setting chosen on validation, from these values.
PROBES = {"linear": (Ridge, "alpha", (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)),
          "knn": (KNeighborsRegressor, "n_neighbors", (1, 3, 5, 10, 20, 50, 100))}
# The faces a probe learns from, and those that choose its setting.
FIT_SETS = {"identities": ("finetune_train", "finetune_val"), "utkface": ("train", "val")}
UTKFACE_SAMPLE = {"train": 2000, "val": 500}   # the fixed sample of UTKFace chips (seeded by the data seed)


def saved_encoder(name: str, cfg: Config, paths: Paths) -> tuple[torch.nn.Module, dict]:
    """The frozen backbone of an encoder's weights file, and the file's checkpoint."""
    path = weights_path(paths, name)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no {name!r} weights to probe; run notebook {notebook_of(name)} first")
    if cfg.encoder != "shared2d":
        raise ValueError(f"frozen-encoder probes read one photo per feature: encoder={cfg.encoder!r} has none")
    ckpt = load_checkpoint(path)
    backbone, _ = make_backbone(cfg.backbone, imagenet=False)
    backbone.load_state_dict({k[len("backbone."):]: v for k, v in ckpt["model"].items() if k.startswith("backbone.")})
    return backbone.eval(), ckpt


@torch.no_grad()
def features(backbone, cfg: Config, cache: FaceCache, split: str, rows=None) -> tuple[np.ndarray, np.ndarray]:
    """(features, ages) of a split's faces (or of those `rows` of it) through a frozen backbone."""
    device = resolve_device(cfg.device)
    backbone.to(device).eval()
    faces = FaceDataset(cache, split)
    loader = make_loader(faces if rows is None else Subset(faces, rows.tolist()), 256, False, cfg)
    feats, ages = [], []
    for x, age in loader:
        with autocast(device, cfg.amp):
            feats.append(backbone(model_input(x.to(device))).float().cpu())
        ages.append(age)
    return torch.cat(feats).numpy(), torch.cat(ages).numpy().astype(float)


def _utkface_rows(cache: FaceCache, split: str, data_seed: int) -> np.ndarray:
    n = len(cache.split(split))
    return np.sort(np.random.default_rng([data_seed, 41, n]).permutation(n)[:UTKFACE_SAMPLE[split]])


def fit_probe(kind: str, train: tuple, val: tuple) -> tuple[object, StandardScaler, dict]:
    """The probe of `kind` with the setting of PROBES that gives the lowest MAE on `val`, fitted on
    standardised `train` features; (probe, scaler, {setting, validation MAE by setting})."""
    make, name, values = PROBES[kind]
    scaler = StandardScaler().fit(train[0])
    xt, xv = scaler.transform(train[0]), scaler.transform(val[0])
    maes = {}
    for v in values:
        if name == "n_neighbors" and v > len(xt):
            continue
        model = make(**{name: v}).fit(xt, train[1])
        maes[v] = float(np.abs(model.predict(xv) - val[1]).mean())
    best = min(maes, key=maes.get)
    return make(**{name: best}).fit(xt, train[1]), scaler, {name: best, "val_mae_by_setting": maes}


def _errors(probe, scaler, feats: tuple, train_mean: float) -> dict:
    pred = probe.predict(scaler.transform(feats[0]))
    return {"mae": float(np.abs(pred - feats[1]).mean()), "n": int(len(pred)),
            "abs_errors": np.abs(pred - feats[1]).round(3).tolist(),
            "mean_predictor_abs_errors": np.abs(train_mean - feats[1]).round(3).tolist(),
            "mean_predictor_mae": float(np.abs(train_mean - feats[1]).mean())}


def probe_encoders(cfg: Config, paths: Paths, encoders=ENCODERS) -> dict:
    """Probe each encoder of one seed and write its record; {encoder: record fields}."""
    identities = identities_of(cfg, paths)
    utk = FaceCache(paths.cache_dir, "utkface")
    test_dataset, test_split = TEST_SPLIT[cfg.test_set]
    test = FaceCache(paths.cache_dir, test_dataset)
    out = {}
    for name in encoders:
        backbone, ckpt = saved_encoder(name, cfg, paths)
        feats = {
            "identities": {s: features(backbone, cfg, identities, s) for s in FIT_SETS["identities"]},
            "utkface": {s: features(backbone, cfg, utk, s, _utkface_rows(utk, s, cfg.data_seed))
                        for s in FIT_SETS["utkface"]},
        }
        on_test, on_heldout = features(backbone, cfg, test, test_split), features(backbone, cfg, identities, "heldout")
        probes = {}
        for fit_set, (tr, va) in FIT_SETS.items():
            train, val = feats[fit_set][tr], feats[fit_set][va]
            for kind in PROBES:
                probe, scaler, chosen = fit_probe(kind, train, val)
                mean = float(np.mean(train[1]))
                probes[f"{kind}/{fit_set}"] = {
                    "fitted_on": f"{(identities if fit_set == 'identities' else utk).name}/{tr} ({len(train[1])} faces)",
                    "chosen_on": f"{(identities if fit_set == 'identities' else utk).name}/{va} ({len(val[1])} faces)",
                    "setting": chosen, "train_mean_age": mean,
                    "test": _errors(probe, scaler, on_test, mean), "heldout": _errors(probe, scaler, on_heldout, mean)}
        data_hashes = {f"{identities.name}/{s}": identities.split_hashes[s]
                       for s in (*FIT_SETS["identities"], "heldout")}
        data_hashes.update({f"utkface/{s}": utk.split_hashes[s] for s in FIT_SETS["utkface"]})
        fields = {"kind": "probe", "encoder": name, "preset": cfg.preset, "data": data_kind(paths),
                  "data_id": paths.data_id, "seed": cfg.seed, "data_seed": cfg.data_seed,
                  "split_seed": identities.split_seed, "config": cfg.to_dict(), "versions": versions(),
                  "code_version": CODE_VERSION, "git": git_commit(paths.root), "run_id": ckpt.get("run_id"),
                  "weights": paths.rel(weights_path(paths, name)), "finished": True, "data_hashes": data_hashes,
                  "upstream": {name: ckpt.get("state_hash") or state_hash(ckpt["model"])},
                  "test": {"dataset": test_dataset, "split": test_split, "test_set": cfg.test_set},
                  "test_data_hash": test.split_hashes[test_split],
                  "heldout_identities": [str(v) for v in identities.split("heldout")["identity"]],
                  "probes": probes}
        write_result(paths.results_dir, f"probe_{name}", fresh=True, **fields)
        out[name] = fields
    return out
