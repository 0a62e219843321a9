"""Torch datasets over the prepared cache: single faces, and order tuples.

Items are uint8 tensors straight from the memory-mapped cache; augmentation and
normalisation happen per batch on the training device (`facelib.data.augment`)."""
from __future__ import annotations

import itertools
import random

import numpy as np
import torch
from torch.utils.data import Dataset

from .cache import FaceCache


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 → (3, H, W) uint8 tensor (a copy: the cache is a read-only memmap)."""
    return torch.from_numpy(np.array(img)).permute(2, 0, 1)


class FaceDataset(Dataset):
    """Single faces of one split: (uint8 image (3, H, W), age). With copies > 1, a
    (copies, 3, H, W) stack of the same face (the input of the `r21d_original` regressor;
    batch augmentation then changes each copy independently). fraction < 1: a seeded subset of
    the split's identities (see `FaceCache.split`)."""

    def __init__(self, cache: FaceCache, split: str, copies: int = 1, fraction: float = 1.0, seed: int = 0):
        self.cache, self.copies = cache, copies
        rows = cache.split(split, fraction, seed)
        self.rows = rows["index"].to_numpy()
        self.ages = rows["age"].to_numpy(np.float32)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        x = to_tensor(self.cache.images[self.rows[i]])
        if self.copies > 1:
            x = x.unsqueeze(0).expand(self.copies, -1, -1, -1).clone()
        return x, torch.tensor(self.ages[i])


class MixedFaceDataset(Dataset):
    """A fine-tuning set with a share of faces from another set mixed in (rehearsal): every
    face of `primary`, then `n_extra` items that each draw a random face of `extra` (a fresh draw
    every epoch, from torch's RNG, which `fit` seeds per epoch and DataLoader per worker).

    share: the mixed-in share of each epoch, n_extra = round(len(primary) * share / (1 - share)).
    `ages`: the primary ages and a seeded draw of n_extra extra ages, for the mean predictor."""

    def __init__(self, primary: FaceDataset, extra: FaceDataset, share: float, seed: int = 0):
        if not 0 < share < 1:
            raise ValueError(f"share={share}: must be in (0, 1)")
        self.primary, self.extra = primary, extra
        self.n_extra = round(len(primary) * share / (1 - share))
        draw = np.random.default_rng([seed, 29]).integers(len(extra), size=self.n_extra)
        self.ages = np.concatenate([primary.ages, extra.ages[draw]])

    def __len__(self):
        return len(self.primary) + self.n_extra

    def __getitem__(self, i):
        if i < len(self.primary):
            return self.primary[i]
        return self.extra[int(torch.randint(len(self.extra), ()).item())]


def permutations(t: int) -> torch.Tensor:
    """All T! permutations in lexicographic order, (T!, T); row k is the label k."""
    return torch.tensor(list(itertools.permutations(range(t))), dtype=torch.long)


def longest_chains(ages: np.ndarray, min_gap: float) -> np.ndarray:
    """For ages sorted ascending: the longest chain with neighbour gaps >= min_gap (and
    strictly increasing ages) that starts at each photo. Greedy is optimal here."""
    n = len(ages)
    chain = np.ones(n, dtype=int)
    for i in range(n - 1, -1, -1):
        j = np.searchsorted(ages, ages[i] + max(min_gap, 1e-6), side="left")
        if j < n:
            chain[i] = 1 + chain[j]
    return chain


class OrderTupleDataset(Dataset):
    """Order tuples: T photos of one identity, strictly increasing in age with at least
    `min_gap` years between neighbours, shown in a random permutation.

    Item: (uint8 photos (T, 3, H, W), label = index of the permutation in `permutations(T)`,
    ages (T,) in shown order). `perm[k]` is the age rank of the photo shown at position k.
    With `fixed=True` every item is drawn from an RNG seeded by (seed, index), so a
    validation set is the same each epoch; otherwise from torch's RNG (per worker).
    """

    def __init__(self, cache: FaceCache, split: str, tuple_len: int, min_gap: float,
                 tuples_per_identity: int, fixed: bool = False, seed: int = 0, gap_start: float = 0):
        self.cache, self.T, self.base_gap, self.min_gap = cache, tuple_len, min_gap, min_gap
        self.fixed, self.seed, self.gap_start = fixed, seed, gap_start
        self.perms = permutations(tuple_len)
        rows = cache.split(split)
        self.identities, self.dropped = [], []
        for ident, g in rows.groupby("identity", sort=True):
            g = g.sort_values("age", kind="stable")
            ages = g["age"].to_numpy(float)
            chain = longest_chains(ages, min_gap)
            if chain.max() >= tuple_len:
                self.identities.append((g["index"].to_numpy(), ages, chain))
            else:
                self.dropped.append(ident)
        self._chains = {min_gap: [c for _, _, c in self.identities]}
        if not self.identities:
            best = max((longest_chains(g.sort_values("age")["age"].to_numpy(float), min_gap).max()
                        for _, g in rows.groupby("identity")), default=0)
            raise ValueError(
                f"min_age_gap={min_gap}, tuple_len={tuple_len}: no identity in split {split!r} has "
                f"{tuple_len} photos with age gaps of at least {min_gap} years (the best has {best}); "
                "lower min_age_gap or tuple_len")
        self.per_identity = tuples_per_identity

    def __len__(self):
        return len(self.identities) * self.per_identity

    def set_epoch(self, epoch: int, epochs: int) -> None:
        """Age-gap curriculum (`gap_start` > the minimum gap): the first epoch asks for `gap_start`
        years between neighbours, falling linearly to the minimum gap by the middle epoch; an
        identity without T photos that far apart keeps the largest gap it has (at least the minimum)."""
        if self.gap_start <= self.base_gap:
            return
        t = min(1.0, epoch / max(1.0, (epochs - 1) / 2))
        self.min_gap = round(self.gap_start + (self.base_gap - self.gap_start) * t)

    def _randint(self, n, gen):
        if gen is not None:
            return int(gen.integers(n))
        return int(torch.randint(n, ()).item())

    def _chain(self, k: int):
        """(gap, chain lengths) of identity k at the current gap, or at the largest smaller gap its
        photos allow (curriculum)."""
        gap = self.min_gap
        while True:
            if gap not in self._chains:
                self._chains[gap] = [longest_chains(a, gap) for _, a, _ in self.identities]
            chain = self._chains[gap][k]
            if chain.max() >= self.T or gap <= self.base_gap:
                return gap, chain
            gap = max(self.base_gap, gap - 1)

    def sample(self, i: int, gen=None):
        """Row indices (age order), their ages, and the permutation label of item i."""
        k = i % len(self.identities)
        rows, ages, _ = self.identities[k]
        gap, chain = self._chain(k)
        picked, need, start = [], self.T, 0
        for _ in range(self.T):
            # candidates: older than the last pick by the gap, with room for the rest
            cand = np.flatnonzero(chain[start:] >= need) + start
            j = int(cand[self._randint(len(cand), gen)])
            picked.append(j)
            need -= 1
            start = np.searchsorted(ages, ages[j] + max(gap, 1e-6), side="left")
        label = self._randint(len(self.perms), gen)
        return rows[picked], ages[picked], label

    def __getitem__(self, i):
        gen = np.random.default_rng([self.seed, i]) if self.fixed else None
        rows, ages, label = self.sample(i, gen)
        perm = self.perms[label]
        shown = [int(rows[r]) for r in perm]
        photos = torch.stack([to_tensor(self.cache.images[r]) for r in shown])
        return photos, torch.tensor(label), torch.tensor(ages[perm.numpy()], dtype=torch.float32)


def seed_worker(worker_id: int) -> None:
    """DataLoader worker_init_fn: numpy and random follow torch's per-worker seed."""
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)
