"""What a run learned from, in one place: run keys, the code version, the commit, the data a run
read, the weights it started from, and whether a results file still describes what is in place.

A run's key is {code_version, config, data: {dataset/split: hash}, upstream: {run: weights hash}},
plus its training block and seed (`train.fit` adds those). A checkpoint under another key is
trained again; a results file whose run no longer matches what is in place is left out of every
summary, table and figure, with the reason (`why_stale`)."""
from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torchvision

from ..checkpoints import CheckpointError, load_checkpoint
from ..config import DATASETS, VERSION
from ..data.cache import FaceCache
from ..data.splits import IDENTITY_DATASETS, resplit_hashes

# Bump when what a run learns changes for the same key: a loss, a split rule, an epoch rule.
# Every run trained under another version is trained again and its results are left out.
CODE_VERSION = 2


def git_commit(root) -> dict | None:
    """{"commit", "dirty"} of the git clone the code runs from; None outside a clone."""
    root = Path(root)
    if not (root / ".git").exists():
        return None
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": sha, "dirty": bool(dirty)} if sha else None


def state_hash(state: dict) -> str:
    """A short hash of a model's weights: what a downstream run records of its upstream."""
    h = hashlib.sha1()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def key_id(key: dict) -> str:
    return hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def data_kind(paths) -> str:
    return "synthetic" if paths.synthetic else "real"


def rehearsal_data(cfg, cache) -> dict:
    """The run-key entry of the UTKFace faces a fine-tuning run mixes in (none without rehearsal)."""
    if cfg.finetune_utkface_share() == 0:
        return {}
    utk = FaceCache(cache.cache_dir, "utkface")
    return {f"utkface/{s}": utk.split_hashes[s] for s in ("train", "val")}


def run_key(cfg, cache, splits, upstream: dict | None = None, fraction: float = 1.0,
            rehearsal: bool = False) -> dict:
    """What a run learns from: the hashes of the splits it reads, its upstream weights, its settings
    and the code version."""
    data = {f"{cache.name}/{s}": cache.split_hashes[s] for s in splits}
    config = cfg.run_config()
    if rehearsal:
        data.update(rehearsal_data(cfg, cache))
        config["utkface_share"] = cfg.finetune_utkface_share()
    if fraction < 1:
        config["label_fraction"] = fraction
    return {"code_version": CODE_VERSION, "config": config, "data": data, "upstream": upstream or {}}


def key_changes(old: dict | None, new: dict) -> str:
    """What differs between two run keys, in a few words ("training data (train)", "settings (lr)")."""
    if not old:
        return "its checkpoint has no run key (written by an older facelib)"
    said = []
    if old.get("code_version") != new.get("code_version"):
        said.append(f"code version ({old.get('code_version')} → {new.get('code_version')})")
    for part, what in (("data", "training data"), ("upstream", "upstream weights")):
        a, b = old.get(part, {}), new.get(part, {})
        if a != b:
            said.append(f"{what} ({', '.join(sorted(k for k in {*a, *b} if a.get(k) != b.get(k)))})")
    skip = ("data", "upstream", "code_version")
    flat_a = _flatten({k: v for k, v in old.items() if k not in skip})
    flat_b = _flatten({k: v for k, v in new.items() if k not in skip})
    fields = sorted(k for k in {*flat_a, *flat_b} if flat_a.get(k) != flat_b.get(k))
    if fields:
        said.append("settings (" + ", ".join(fields[:6]) + (" …" if len(fields) > 6 else "") + ")")
    return "; ".join(said) + " changed"


def _flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def versions() -> dict:
    return {"facelib": VERSION, "torch": torch.__version__, "torchvision": torchvision.__version__,
            "numpy": np.__version__, "pandas": pd.__version__, "python": platform.python_version()}


def record_fields(cfg, paths, cache, res, wpath, name: str, kind: str) -> dict:
    """The provenance every training record holds: what produced it, from what, and what it cost."""
    return {"kind": kind, "preset": cfg.preset, "data": data_kind(paths), "data_id": paths.data_id,
            "seed": cfg.seed, "data_seed": cfg.data_seed, "split_seed": cache.split_seed,
            "config": cfg.to_dict(), "versions": versions(), "code_version": CODE_VERSION,
            "git": git_commit(paths.root), "data_hash": cache.data_hash,
            "run_id": key_id(res.key), "data_hashes": res.key["data"], "upstream": res.key["upstream"],
            "finished": bool(res.finished),
            "budget": {"images_seen": res.budget["images"], "epochs": res.budget["epochs"],
                       "steps": res.budget["steps"], "seconds": round(res.budget["seconds"], 1),
                       **kept_budget(res.budget["images"], res.budget["steps"], res.budget["epochs"],
                                     res.kept_epoch + 1)},
            "weights": paths.rel(wpath), "best_epoch": res.best_epoch + 1, "kept_epoch": res.kept_epoch + 1,
            "epochs_run": len(res.history)}


def kept_budget(images: float, steps: float, epochs: int, kept_epoch: int) -> dict:
    """What the kept weights were trained on: epochs 1..kept_epoch of a run that saw `images` in
    `steps` over `epochs`. Every epoch of a run takes the same steps over the same batch sizes (a new
    pass over its loader), so the share is exact."""
    share = kept_epoch / epochs if epochs else 0.0
    return {"kept_epoch": int(kept_epoch), "images_kept": int(round(images * share)),
            "steps_kept": int(round(steps * share))}


def weights_fields(cfg, paths, name: str, run_id: str, state: dict) -> dict:
    """What a weights file says of itself beside its tensors (read by `predict` and `why_stale`)."""
    return {"config": cfg.to_dict(), "name": name, "run_id": run_id, "state_hash": state_hash(state),
            "data": data_kind(paths), "data_id": paths.data_id, "preset": cfg.preset, "seed": cfg.seed,
            "code_version": CODE_VERSION}


# ---------------------------------------------------------------- is a record still what is in place?

class Inventory:
    """What is in place now, read once: the prepared split hashes of every dataset in the cache and,
    lazily, the run id and weights hash of each weights file."""

    def __init__(self, paths, preset: str = ""):
        self.paths, self.kind, self.preset = paths, data_kind(paths), preset or getattr(paths, "preset", "")
        self.hashes = {}
        for name in DATASETS:
            try:
                self.hashes[name] = FaceCache(paths.cache_dir, name).split_hashes
            except FileNotFoundError:
                pass
        self._weights = {}

    def weights(self, path: Path) -> dict:
        """{run_id, state_hash} of a weights file ({} when it is missing or unreadable)."""
        if path not in self._weights:
            try:
                ck = load_checkpoint(path) if path.is_file() else {}
            except CheckpointError:
                ck = {}
            self._weights[path] = {"run_id": ck.get("run_id"),
                                   "state_hash": ck.get("state_hash") or (state_hash(ck["model"]) if ck else None)}
        return self._weights[path]

    def split_hash(self, key: str, split_seed=None) -> str | None:
        dataset, split = key.split("/", 1)
        prepared = self.hashes.get(dataset)
        if prepared is None:
            return None
        if split_seed is not None and dataset in IDENTITY_DATASETS:
            return resplit_hashes(prepared, split_seed, [split])[split]
        return prepared.get(split)


def why_stale(r: dict, paths, inv: Inventory) -> str:
    """Why a training record no longer describes the weights and data in place ("" when it does).

    Fails closed: a record is kept only when its weights are the ones it was written with, it
    finished, it came from this code version, this kind of data and preset, every split it read or
    was tested on has the same hash in the cache now, and every upstream run's weights in place are
    the ones it started from."""
    if "run_id" not in r:  # not a training record (data.json); one with test results must be one
        return "it holds test results but no training record (run_id)" if "test" in r else ""
    if r.get("code_version") != CODE_VERSION:
        return f"it was made by another facelib code version ({r.get('code_version')}; now {CODE_VERSION})"
    if r.get("data") != inv.kind:
        return f"it was trained on {r.get('data')} data; the data in place are {inv.kind}"
    if inv.preset and r.get("preset") != inv.preset:
        return f"it was trained with preset {r.get('preset')!r}, not {inv.preset!r}"
    if not r.get("finished"):
        return (f"its training did not finish ({r.get('epochs_run', '?')} epochs run); run its notebook again "
                "to complete it")
    w = inv.weights(paths.abs(r.get("weights", "")))
    if w["run_id"] is None:
        return f"its weights {r.get('weights')} are gone or unreadable"
    if w["run_id"] != r["run_id"]:
        return f"{r.get('weights')} was trained again since (run {w['run_id']}, this file: run {r['run_id']})"
    for key, h in r.get("data_hashes", {}).items():
        now = inv.split_hash(key, r.get("split_seed"))
        if now is None:
            return f"it was trained on {key}, which the prepared cache no longer holds"
        if now != h:
            return f"it was trained on other {key} data than the cache now holds"
    test = r.get("test")
    if test is not None:
        now = inv.split_hash(f"{test.get('dataset')}/{test.get('split')}")
        if now is None or now != r.get("test_data_hash"):
            return f"it was tested on other {test.get('dataset')}/{test.get('split')} data than the cache now holds"
    for name, h in r.get("upstream", {}).items():
        up = inv.weights(paths.weights_dir / f"{name}.pt")
        if up["state_hash"] is None:
            return f"the {name} weights it started from are gone"
        if up["state_hash"] != h:
            return f"{name} was trained again since this run started from it"
    return ""
