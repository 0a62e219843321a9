"""A prepared dataset: the manifest in memory, the pixels memory-mapped, and the skip report."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .splits import IDENTITY_DATASETS, assign_splits, resplit_hashes


class FaceCache:
    """A prepared dataset: the manifest in memory, the pixels memory-mapped on first use.

    The memmap is opened lazily, so a FaceCache can be sent to DataLoader workers.
    """

    def __init__(self, cache_dir, name: str, split_seed=None):
        """split_seed: for an identities dataset (AIHub, FG-NET), split its people anew with this
        seed, e.g. (data_seed, model seed); None keeps the split `prepare` made."""
        self.cache_dir, self.name = Path(cache_dir), name
        csv = self.cache_dir / f"{name}.csv"
        if not csv.exists():
            raise FileNotFoundError(f"{csv}: no prepared cache for {name!r}; run `facelib prepare` "
                                    "(or notebook 00_prepare-data) first")
        self.manifest = pd.read_csv(csv, keep_default_na=False)
        meta = self.cache_dir / f"{name}.meta.json"
        meta = json.loads(meta.read_text()) if meta.exists() else {}
        self.data_hash = meta.get("key", "")
        self.split_hashes = meta.get("report", {}).get("split_hashes", {})
        self.split_seed = None
        if split_seed is not None and name in IDENTITY_DATASETS:
            self.split_seed = list(np.atleast_1d(split_seed).tolist())
            self.manifest["split"] = assign_splits(name, self.manifest, self.split_seed)
            self.split_hashes = resplit_hashes(self.split_hashes, self.split_seed, sorted(set(self.manifest["split"])))
        self._images = None

    @property
    def images(self) -> np.ndarray:
        if self._images is None:
            self._images = np.load(self.cache_dir / f"{self.name}.npy", mmap_mode="r")
        return self._images

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_images"] = None  # each worker opens its own memmap
        return state

    def split(self, split: str, fraction: float = 1.0, seed: int = 0) -> pd.DataFrame:
        """The split's rows; with fraction < 1, the rows of a seeded share of its identities. One
        seed orders the identities once, so smaller fractions are subsets of larger ones."""
        rows = self.manifest[self.manifest["split"] == split]
        if rows.empty:
            raise ValueError(f"split {split!r} of {self.name} is empty; it has "
                             f"{sorted(self.manifest['split'].unique())}")
        if fraction < 1:
            ids = np.array(sorted(rows["identity"].unique()))
            ids = ids[np.random.default_rng([seed, 17]).permutation(len(ids))]
            rows = rows[rows["identity"].isin(set(ids[:max(1, round(fraction * len(ids)))]))]
        return rows

    def __len__(self):
        return len(self.manifest)


def report_table(report: dict) -> pd.DataFrame:
    """One row per (dataset, reason): skipped and noted counts, found and kept per dataset, and how the
    kept faces were framed (landmarks, a box, a whole aligned chip, the face and eyes found, the
    dataset's median framing where none was found)."""
    rows = []
    for name, rep in report["datasets"].items():
        rows.append({"dataset": name, "what": "found", "reason": "", "count": rep["found"]})
        rows.append({"dataset": name, "what": "kept", "reason": "", "count": rep["kept"]})
        for reason, n in rep["skipped"].items():
            rows.append({"dataset": name, "what": "skipped", "reason": reason, "count": n,
                         "example": ", ".join(rep["examples"].get(reason, [])[:1])})
        for reason, n in rep["notes"].items():
            rows.append({"dataset": name, "what": "kept, noted", "reason": reason, "count": n,
                         "example": ", ".join(rep["examples"].get(reason, [])[:1])})
        for how, n in rep.get("framing", {}).items():
            rows.append({"dataset": name, "what": "framed by", "reason": how, "count": n})
    return pd.DataFrame(rows).fillna("")


def ridge_signal_check(cache: FaceCache, pixels: int = 16, seed: int = 0) -> dict:
    """How much age signal a trivial model finds: ridge regression on (pixels x pixels) grey
    images, trained on the `train` split, against the mean-age predictor, on `test`
    (or `val`). A real but non-trivial signal beats the mean clearly and stays far from 0."""
    from sklearn.linear_model import RidgeCV

    def xy(split):
        rows = cache.split(split)
        x = np.stack([np.asarray(Image.fromarray(cache.images[i]).convert("L").resize((pixels, pixels),
                                 Image.BILINEAR), np.float32).ravel() / 255 for i in rows["index"]])
        return x, rows["age"].to_numpy(float)

    splits = set(cache.manifest["split"])
    x_tr, y_tr = xy("train")
    x_te, y_te = xy("test" if "test" in splits else "val")
    model = RidgeCV(alphas=np.logspace(-2, 3, 12)).fit(x_tr, y_tr)
    return {"ridge_mae": float(np.abs(model.predict(x_te) - y_te).mean()),
            "mean_mae": float(np.abs(y_tr.mean() - y_te).mean()), "n_train": len(y_tr), "n_test": len(y_te)}
