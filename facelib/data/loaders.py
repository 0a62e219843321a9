"""DataLoaders of a run: faces (with UTKFace rehearsal where a fine-tuning run mixes it in) and
order tuples, seeded so that a resumed run draws the same batches as an uninterrupted one."""
from __future__ import annotations

import numpy as np
from torch.utils.data import ConcatDataset, DataLoader, Subset

from ..runtime import resolve_device
from .cache import FaceCache
from .datasets import FaceDataset, MixedFaceDataset, OrderTupleDataset, seed_worker


def make_loader(ds, batch_size: int, shuffle: bool, cfg) -> DataLoader:
    # Workers are started afresh each epoch (not persistent), so they take their seeds from the
    # per-epoch seed of `fit`: a resumed run draws the same batches as an uninterrupted one.
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, drop_last=shuffle and len(ds) > batch_size,
                      num_workers=cfg.num_workers, worker_init_fn=seed_worker,
                      pin_memory=resolve_device(cfg.device).type == "cuda")


def face_loaders(cfg, cache: FaceCache, train_split: str, val_split: str, batch_size: int, copies: int = 1,
                 fraction: float = 1.0, rehearsal: bool = False):
    """Training and validation loaders of one cache, and the training ages.

    rehearsal (fine-tuning runs, `Config.finetune_utkface_share()` > 0): UTKFace training faces are
    mixed into the training set, and a seeded draw of UTKFace validation faces, in the same share,
    into the validation set that chooses the epoch and settings: a run is chosen for the faces it
    trains on, not for the identities' few validation people alone."""
    tr = FaceDataset(cache, train_split, copies, fraction=fraction, seed=cfg.data_seed)
    va = FaceDataset(cache, val_split, copies)
    share = cfg.finetune_utkface_share() if rehearsal else 0.0
    if share > 0:
        utk = FaceCache(cache.cache_dir, "utkface")
        tr = MixedFaceDataset(tr, FaceDataset(utk, "train", copies), share, seed=cfg.data_seed)
        utk_val = FaceDataset(utk, "val", copies)
        n = min(len(utk_val), round(len(va) * share / (1 - share)))
        draw = np.random.default_rng([cfg.data_seed, 31]).permutation(len(utk_val))[:n]
        va = ConcatDataset([va, Subset(utk_val, draw.tolist())])
    return make_loader(tr, batch_size, True, cfg), make_loader(va, batch_size, False, cfg), tr.ages


def split_loader(cfg, cache: FaceCache, split: str, batch_size: int, copies: int = 1) -> DataLoader:
    """The faces of one split alone, in manifest order (evaluation)."""
    return make_loader(FaceDataset(cache, split, copies), batch_size, False, cfg)


def tuple_loaders(cfg, cache: FaceCache, train_split: str, val_split: str, batch_size: int):
    """Order tuples: fresh draws each epoch for training, a fixed set for validation."""
    def make(split, fixed):
        return OrderTupleDataset(cache, split, cfg.tuple_len, cfg.min_age_gap, cfg.tuples_per_identity, fixed=fixed,
                                 seed=cfg.data_seed, gap_start=0 if fixed else cfg.min_age_gap_start)
    return make_loader(make(train_split, False), batch_size, True, cfg), \
        make_loader(make(val_split, True), batch_size, False, cfg)
