"""Turn dataset folders into a compact cache: uint8 face crops + a manifest per dataset.

For each dataset found under `data_root` it writes, in `cache_dir`:
`<dataset>.npy` — (N, S, S, 3) uint8, opened memory-mapped at training time;
`<dataset>.csv` — the manifest (index, age, gender, identity, device, year,
source, split, source_split); and `report.json` — found / kept / skipped by
reason per dataset. Splits are identity-disjoint. A second call with the same
inputs and parameters reuses the cache.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .readers import READERS
from .records import FaceRecord

CACHE_VERSION = 2  # 2: per-split data hashes; crops padded where the box leaves the image
DATASETS = ("utkface", "megaage_asian", "aihub")
# Where the 5 landmarks (left eye, right eye, nose, mouth left, mouth right) land
# in an aligned crop, as fractions of its side: the framing of an aligned
# UTKFace-style chip, so that aligned AIHub faces look like the other datasets.
ALIGN_TEMPLATE = np.array([[0.386, 0.49], [0.614, 0.49], [0.5, 0.64], [0.44, 0.73], [0.56, 0.73]])
MIN_FACE_PIXELS = 16  # a face smaller than this (box side) carries no usable detail
SPLIT_FRACTIONS = {
    "utkface": {"train": 0.8, "val": 0.1, "test": 0.1},
    "aihub": {"pretext_train": 0.4, "pretext_val": 0.1, "finetune_train": 0.4, "finetune_val": 0.1},
}


def prepare(data_root, cache_dir, image_size: int = 64, margin: float = 0.25, seed: int = 0,
            datasets=DATASETS, progress: bool = True, force: bool = False) -> dict:
    """Prepare every dataset present under `data_root`; returns the combined report dict.

    data_root: folder holding `utkface/`, `megaage_asian/`, `aihub/` (any subset).
    margin: border added around an AIHub face box, as a fraction of its side.
    """
    data_root, cache_dir = Path(data_root), Path(cache_dir)
    if not data_root.is_dir():
        raise FileNotFoundError(f"{data_root}: data folder not found; expected utkface/, "
                                "megaage_asian/ and/or aihub/ inside it")
    present = [d for d in datasets if (data_root / d).is_dir()]
    if not present:
        raise FileNotFoundError(f"{data_root}: none of {', '.join(datasets)} found inside")
    cache_dir.mkdir(parents=True, exist_ok=True)
    report = {"data_root": str(data_root), "image_size": image_size, "datasets": {}}
    for name in present:
        report["datasets"][name] = _prepare_one(name, data_root / name, cache_dir, image_size,
                                                margin, seed, progress, force)
    (cache_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return report


def _fingerprint(root: Path, params: dict) -> str:
    h = hashlib.sha1(json.dumps(params, sort_keys=True).encode())
    for p in sorted(root.rglob("*")):
        if p.is_file():
            st = p.stat()
            h.update(f"{p.relative_to(root)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _prepare_one(name, root, cache_dir, size, margin, seed, progress, force) -> dict:
    from tqdm.auto import tqdm

    params = {"version": CACHE_VERSION, "size": size, "margin": margin, "seed": seed}
    key = _fingerprint(root, params)
    meta_path = cache_dir / f"{name}.meta.json"
    npy, csv = cache_dir / f"{name}.npy", cache_dir / f"{name}.csv"
    if not force and meta_path.exists() and npy.exists() and csv.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("key") == key:
            return {**meta["report"], "cached": True, "data_hash": key}

    records, report = READERS[name](root)
    tmp = cache_dir / f"{name}.tmp.npy"
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(records), size, size, 3))
    kept, seen = [], {}
    for rec in tqdm(records, desc=f"prepare {name}", disable=not progress):
        rel = rec.path.relative_to(root)
        try:
            raw = rec.path.read_bytes()
        except OSError:
            report.skip("unreadable_file", rel)
            continue
        if not raw:
            report.skip("empty_file", rel)
            continue
        digest = hashlib.md5(raw).hexdigest()
        if digest in seen:
            report.skip("duplicate_file", rel)
            continue
        try:
            with Image.open(io.BytesIO(raw)) as im:
                im.load()
                img = im.convert("RGB")
        except Exception:  # PIL raises many types for truncated or non-image bytes
            report.skip("undecodable_image", rel)
            continue
        face = crop_face(img, rec, size, margin)
        if face is None:
            report.skip("face_too_small", rel)
            continue
        seen[digest] = rel
        arr[len(kept)] = face
        kept.append(rec)
    arr.flush()
    del arr
    _compact(tmp, npy, len(kept))

    manifest = pd.DataFrame({
        "index": np.arange(len(kept)),
        "age": [r.age for r in kept],
        "gender": [r.gender for r in kept],
        "identity": [r.identity for r in kept],
        "device": [r.device for r in kept],
        "year": [r.year for r in kept],
        "source": [str(r.path.relative_to(root)) for r in kept],
        "source_split": [r.source_split for r in kept],
    })
    manifest["split"] = assign_splits(name, manifest, seed)
    manifest.to_csv(csv, index=False)
    rep = report.to_dict()
    rep["splits"] = manifest["split"].value_counts().sort_index().to_dict()
    rep["split_hashes"] = split_hashes(manifest, np.load(npy, mmap_mode="r"))
    meta_path.write_text(json.dumps({"key": key, "params": params, "report": rep}, ensure_ascii=False))
    return {**rep, "cached": False, "data_hash": key}


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


def _compact(tmp: Path, dest: Path, n: int) -> None:
    """Move the first n rows of `tmp` into `dest` without loading the array whole."""
    src = np.load(tmp, mmap_mode="r")
    if n == src.shape[0]:
        del src
        os.replace(tmp, dest)
        return
    out = np.lib.format.open_memmap(dest.with_suffix(".part.npy"), mode="w+", dtype=np.uint8,
                                    shape=(n, *src.shape[1:]))
    for i in range(0, n, 1024):
        out[i:i + 1024] = src[i:min(n, i + 1024)]
    out.flush()
    del out, src
    os.replace(dest.with_suffix(".part.npy"), dest)
    tmp.unlink()


def assign_splits(name: str, manifest: pd.DataFrame, seed: int) -> pd.Series:
    """Identity-disjoint splits: every photo of one identity lands in the same split."""
    if name == "megaage_asian":
        return manifest["source_split"].copy()
    fractions = SPLIT_FRACTIONS[name]
    ids = np.array(sorted(manifest["identity"].unique()))
    rng = np.random.default_rng([seed, len(ids)])
    ids = ids[rng.permutation(len(ids))]
    bounds = np.round(np.cumsum(list(fractions.values())) * len(ids)).astype(int)
    split_of, start = {}, 0
    for split, end in zip(fractions, bounds):
        for i in ids[start:end]:
            split_of[i] = split
        start = end
    return manifest["identity"].map(split_of)


# ---------------------------------------------------------------- cropping

def crop_face(img: Image.Image, rec: FaceRecord, size: int, margin: float):
    """The face of `rec` as a (size, size, 3) uint8 array, or None if it is too small.

    Aligned datasets: the central square of the image. With 5 landmarks: a
    similarity transform onto `ALIGN_TEMPLATE`. Else: the box, squared, plus margin.
    """
    if rec.landmarks is not None:
        return align_face(img, rec.landmarks, size)
    if rec.aligned or rec.box is None:
        w, h = img.size
        s = min(w, h)
        if s < MIN_FACE_PIXELS:
            return None
        box = ((w - s) / 2, (h - s) / 2, (w + s) / 2, (h + s) / 2)
    else:
        x0, y0, x1, y1 = rec.box
        if min(x1 - x0, y1 - y0) < MIN_FACE_PIXELS:
            return None
        cx, cy, s = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * (1 + 2 * margin)
        box = (cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2)
    return np.asarray(crop_square(img, box, size), dtype=np.uint8)


def crop_square(img: Image.Image, box, size: int) -> Image.Image:
    """`box` (x0, y0, x1, y1, may reach outside the image) resized to size x size. Where the box
    leaves the image the crop is padded with black, as `align_face` pads; a face at the edge of a
    photo keeps its place and scale in the crop instead of failing."""
    x0, y0, x1, y1 = (float(v) for v in box)
    ix0, iy0 = math.floor(x0), math.floor(y0)
    region = img.crop((ix0, iy0, math.ceil(x1), math.ceil(y1)))  # PIL pads outside the image with zeros
    inner = (x0 - ix0, y0 - iy0, x1 - ix0, y1 - iy0)
    return region.resize((size, size), Image.BILINEAR, box=inner, reducing_gap=2.0)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, shift) mapping src points to dst (Umeyama)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s_c, d_c = src - mu_s, dst - mu_d
    cov = d_c.T @ s_c / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    rot = u @ np.diag(d) @ vt
    scale = (sig * d).sum() / s_c.var(0).sum()
    m = np.eye(3)
    m[:2, :2] = scale * rot
    m[:2, 2] = mu_d - scale * rot @ mu_s
    return m


def align_face(img: Image.Image, landmarks: np.ndarray, size: int):
    eye_dist = np.linalg.norm(landmarks[1] - landmarks[0])
    if eye_dist < MIN_FACE_PIXELS / 4:
        return None
    # Work at 2x and shrink with a proper filter, to avoid aliasing on large photos.
    work = size * 2
    m = similarity_transform(landmarks, ALIGN_TEMPLATE * work)
    inv = np.linalg.inv(m)
    face = img.transform((work, work), Image.AFFINE, data=tuple(inv[:2].ravel()), resample=Image.BILINEAR)
    return np.asarray(face.resize((size, size), Image.BILINEAR), dtype=np.uint8)


# ---------------------------------------------------------------- reading the cache

class FaceCache:
    """A prepared dataset: the manifest in memory, the pixels memory-mapped on first use.

    The memmap is opened lazily, so a FaceCache can be sent to DataLoader workers.
    """

    def __init__(self, cache_dir, name: str):
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


def load_report(cache_dir) -> dict:
    return json.loads((Path(cache_dir) / "report.json").read_text())


def report_table(report: dict) -> pd.DataFrame:
    """One row per (dataset, reason): skipped and noted counts, found and kept per dataset."""
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
