"""Identity-disjoint splits, and the hashes that key a run by the faces it reads."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from ..config import TEST_SPLIT

# Without MegaAge-Asian or AAF, the test split is the Asian faces (race 2) of UTKFace, held out of its
# training: up to this many faces, and never more than ASIAN_TEST_SHARE of them.
ASIAN_TEST_FACES, ASIAN_TEST_SHARE = 2000, 0.6
# The datasets whose own splits are kept (their test / val faces are the Asian test split).
ASIAN_TEST_SETS = ("megaage_asian", "aaf")
# Their test lists ({dataset: split}), kept whole as published: the list a benchmark reports on.
LISTED_TEST = {dataset: split for dataset, split in TEST_SPLIT.values() if dataset in ASIAN_TEST_SETS}
# The datasets of photos of one person over the years: their people are split into the order task's
# (pretext_train, pretext_val), the fine-tuning's (finetune_train, finetune_val: the validation that
# chooses epochs and settings) and `heldout`, people no run trains on or chooses anything with.
IDENTITY_DATASETS = ("aihub", "fgnet")
IDENTITY_SPLITS = {"pretext_train": 0.35, "pretext_val": 0.1, "finetune_train": 0.35, "finetune_val": 0.1,
                   "heldout": 0.1}
SPLIT_FRACTIONS = {"utkface": {"train": 0.8, "val": 0.1, "test": 0.1},
                   **{name: IDENTITY_SPLITS for name in IDENTITY_DATASETS}}


def assign_splits(name: str, manifest: pd.DataFrame, seed, asian_test: bool = False) -> pd.Series:
    """Identity-disjoint splits: every photo of one identity lands in the same split.

    seed: an int, or a tuple such as (data_seed, model seed) for the split of one model seed.

    asian_test (UTKFace without MegaAge-Asian or AAF): a seeded set of Asian (race 2) identities, up to
    ASIAN_TEST_FACES faces and ASIAN_TEST_SHARE of them, becomes the split `asian_test`, held out of
    train / val / test. UTKFace has no identity labels: near-identical photos are kept together, but
    one person can still appear on both sides."""
    if name in ASIAN_TEST_SETS:
        return manifest["source_split"].copy()
    held = pd.Series(False, index=manifest.index)
    if asian_test:
        race = manifest.groupby("identity")["race"].agg(lambda r: r.mode().iloc[0])
        asian = np.array(sorted(race.index[race == 2]))
        asian = asian[np.random.default_rng([seed, 2, len(asian)]).permutation(len(asian))]
        sizes = manifest["identity"].value_counts()
        n_asian = int(sizes.reindex(asian).sum())
        target = min(ASIAN_TEST_FACES, int(ASIAN_TEST_SHARE * n_asian))
        taken = asian[np.cumsum(sizes.reindex(asian).to_numpy()) <= target]
        held = manifest["identity"].isin(set(taken))
    fractions = SPLIT_FRACTIONS[name]
    ids = np.array(sorted(manifest.loc[~held, "identity"].unique()))
    rng = np.random.default_rng([*np.atleast_1d(seed).tolist(), len(ids)])
    ids = ids[rng.permutation(len(ids))]
    bounds = split_bounds(list(fractions.values()), len(ids))
    split_of, start = {}, 0
    for split, end in zip(fractions, bounds):
        for i in ids[start:end]:
            split_of[i] = split
        start = end
    return manifest["identity"].map(split_of).where(~held, "asian_test")


def split_bounds(fractions, n: int) -> np.ndarray:
    """End index of each split among n shuffled identities: the rounded cumulative fractions, with at
    least one identity per split where there are enough."""
    bounds = np.round(np.cumsum(fractions) * n).astype(int)
    k = len(bounds)
    if n >= k:
        for i in range(k):
            bounds[i] = min(max(bounds[i], (bounds[i - 1] if i else 0) + 1), n - (k - 1 - i))
    return bounds


def split_hashes(manifest: pd.DataFrame, images: np.ndarray) -> dict:
    """{split: hash of its faces}: labels, identities and pixels of every row, in manifest order.
    A training run is keyed by the hashes of the splits it reads."""
    out = {}
    for split, rows in manifest.groupby("split", sort=True):
        h = hashlib.sha1(rows[["source", "age", "identity"]].to_csv(index=False).encode("utf-8", "backslashreplace"))
        for i in rows["index"].to_numpy():
            h.update(images[i].tobytes())
        out[split] = h.hexdigest()[:16]
    return out


def resplit_hashes(prepared: dict, seed, splits) -> dict:
    """{split: hash} of the splits drawn with `seed` from a prepared dataset: the prepared split
    hashes cover every face's pixels, label and identity, so with the seed they fix the new splits."""
    base = json.dumps({"prepared": prepared, "seed": np.atleast_1d(seed).tolist()}, sort_keys=True)
    return {s: hashlib.sha1(f"{base}|{s}".encode()).hexdigest()[:16] for s in splits}
