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
from .records import FaceRecord, safe_name

CACHE_VERSION = 5  # 5: aligned crops framed like UTKFace's chips (ALIGN_TEMPLATE measured on them)
DATASETS = ("utkface", "megaage_asian", "aihub", "fgnet")
# Where the 5 landmarks (left eye, right eye, nose, mouth left, mouth right) land
# in an aligned crop, as fractions of its side: the framing of UTKFace's aligned chips, so that
# aligned FG-NET / AIHub faces look like the faces the baseline learned from. Measured: OpenCV's
# eye cascade on 386 public UTKFace chips put the pupils at y = 0.29, 0.39 of the side apart
# (median); nose tip and mouth corners follow the usual face proportions, checked on the chips.
ALIGN_TEMPLATE = np.array([[0.305, 0.29], [0.695, 0.29], [0.5, 0.52], [0.37, 0.69], [0.63, 0.69]])
MIN_FACE_PIXELS = 16  # a face smaller than this (box side) carries no usable detail
# Without MegaAge-Asian, the test split is the Asian faces (race 2) of UTKFace, held out of its
# training: up to this many faces, and never more than ASIAN_TEST_SHARE of them.
ASIAN_TEST_FACES, ASIAN_TEST_SHARE = 2000, 0.6
SPLIT_FRACTIONS = {
    "utkface": {"train": 0.8, "val": 0.1, "test": 0.1},
    "aihub": {"pretext_train": 0.4, "pretext_val": 0.1, "finetune_train": 0.4, "finetune_val": 0.1},
    "fgnet": {"pretext_train": 0.4, "pretext_val": 0.1, "finetune_train": 0.4, "finetune_val": 0.1},
}


def prepare(data_root, cache_dir, image_size: int = 64, margin: float = 0.25, seed: int = 0,
            datasets=DATASETS, progress: bool = True, force: bool = False, workers: int | None = None) -> dict:
    """Prepare every dataset present under `data_root`; returns the combined report dict.

    data_root: folder holding `utkface/`, `megaage_asian/`, `aihub/` (any subset).
    margin: border added around an AIHub face box, as a fraction of its side.
    workers: processes cropping faces (default: the CPU count); the cache is the same for any
        number. A prepare that was stopped (even killed) continues where it stopped.
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
    # No MegaAge-Asian in the data: UTKFace's Asian faces become the test split (see assign_splits).
    asian_test = not (data_root / "megaage_asian").is_dir()
    for name in present:
        report["datasets"][name] = _prepare_one(name, data_root / name, cache_dir, image_size,
                                                margin, seed, progress, force, workers,
                                                asian_test=asian_test and name == "utkface")
    (cache_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return report


def _fingerprint(root: Path, params: dict) -> str:
    h = hashlib.sha1(json.dumps(params, sort_keys=True).encode())
    for p in sorted(root.rglob("*")):
        if p.is_file():
            st = p.stat()
            h.update(os.fsencode(p.relative_to(root)) + f"|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


# ---------------------------------------------------------------- decoding one face

def to_rgb(img: Image.Image) -> Image.Image:
    """Any decoded image as 8-bit RGB: 16-bit scaled (not clipped to white), transparency
    composited on white, palette, grey, CMYK and the rest converted."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        img = Image.fromarray(np.clip(a / top * 255 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def decode_photo(raw: bytes, label_size=None) -> Image.Image | None:
    """The photo in `raw` as RGB, turned upright by its EXIF orientation. With `label_size` (the
    width and height its label's box and landmarks refer to), the orientation whose size matches
    the label: upright, else as stored; None when neither does."""
    from PIL import ImageOps
    with Image.open(io.BytesIO(raw)) as im:
        im.load()
        upright = ImageOps.exif_transpose(im)
        candidates = [upright] if label_size is None else [upright, im]
        for img in candidates:
            if label_size is None or _same_size(img.size, label_size):
                return to_rgb(img)
    return None


def _same_size(size, label_size) -> bool:
    return abs(size[0] - label_size[0]) <= 1 and abs(size[1] - label_size[1]) <= 1


def process_record(rec: FaceRecord, size: int, margin: float) -> tuple[str, str, np.ndarray | None]:
    """(status, md5 of the file, face crop): status "ok" or the reason the record is skipped."""
    try:
        raw = rec.path.read_bytes()
    except OSError:
        return "unreadable_file", "", None
    if not raw:
        return "empty_file", "", None
    digest = hashlib.md5(raw).hexdigest()
    try:
        img = decode_photo(raw, rec.label_size)
    except Exception:  # PIL raises many types for truncated or non-image bytes
        return "undecodable_image", digest, None
    if img is None:
        return "image_size_mismatch", digest, None
    face = crop_face(img, rec, size, margin)
    if face is None:
        return "face_too_small", digest, None
    return "ok", digest, face


# ---------------------------------------------------------------- workers

_WORKER = {}


def _open_worker(tmp: str) -> None:
    _WORKER["arr"] = np.load(tmp, mmap_mode="r+")


def _process_chunk(job) -> list[tuple[int, str, str]]:
    """Crop a chunk of records into the memory map at their own rows; flushed before returning,
    so a chunk in the journal is on disk."""
    indices, records, size, margin = job
    arr, out = _WORKER["arr"], []
    for i, rec in zip(indices, records):
        status, digest, face = process_record(rec, size, margin)
        if face is not None:
            arr[i] = face
        out.append((i, status, digest))
    arr.flush()
    return out


def default_workers() -> int:
    return os.cpu_count() or 1


def _prepare_one(name, root, cache_dir, size, margin, seed, progress, force, workers=None,
                 asian_test: bool = False) -> dict:
    from tqdm.auto import tqdm

    params = {"version": CACHE_VERSION, "size": size, "margin": margin, "seed": seed}
    if asian_test:
        params["asian_test"] = True
    key = _fingerprint(root, params)
    meta_path = cache_dir / f"{name}.meta.json"
    npy, csv = cache_dir / f"{name}.npy", cache_dir / f"{name}.csv"
    if not force and meta_path.exists() and npy.exists() and csv.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("key") == key:
            return {**meta["report"], "cached": True, "data_hash": key}

    records, report = READERS[name](root)
    tmp, journal = cache_dir / f"{name}.tmp.npy", cache_dir / f"{name}.journal"
    shape = (len(records), size, size, 3)
    done = _read_journal(journal, key, tmp, shape)
    if done:
        print(f"prepare {name}: resuming, {len(done)} of {len(records)} faces already prepared")
    else:
        np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape).flush()
        journal.write_text(key + "\n")
    todo = [i for i in range(len(records)) if i not in done]
    workers = max(1, workers or default_workers())
    chunk = max(1, min(32, len(todo) // (4 * workers)))  # small enough to keep every worker busy
    jobs = [(ix, [records[i] for i in ix], size, margin) for ix in
            (todo[k:k + chunk] for k in range(0, len(todo), chunk))]
    workers = max(1, min(workers, len(jobs)))
    bar = tqdm(total=len(records), initial=len(done), unit="face", desc=f"prepare {name}", disable=not progress)
    with open(journal, "a") as log:
        def record(rows):
            log.write("".join(f"{i}\t{st}\t{dg}\n" for i, st, dg in rows))
            log.flush()
            done.update({i: (st, dg) for i, st, dg in rows})
            bar.update(len(rows))
        if workers == 1:
            _open_worker(str(tmp))
            for job in jobs:
                record(_process_chunk(job))
            _WORKER.clear()
        else:
            from multiprocessing import get_context
            ctx = get_context("fork" if os.name == "posix" else "spawn")
            with ctx.Pool(workers, initializer=_open_worker, initargs=(str(tmp),)) as pool:
                for rows in pool.imap_unordered(_process_chunk, jobs):
                    record(rows)
    bar.close()

    # Duplicates and skips are decided here, in record order, so any number of workers gives the
    # same cache. Skipped rows stay in the array, unused: no second copy of the cache is written.
    kept, seen = [], set()
    for i, rec in enumerate(records):
        status, digest = done[i]
        rel = rec.path.relative_to(root)
        if status == "ok" and digest in seen:
            status = "duplicate_file"
        if status != "ok":
            report.skip(status, rel)
            continue
        seen.add(digest)
        kept.append(i)
    os.replace(tmp, npy)
    journal.unlink()

    manifest = pd.DataFrame({
        "index": kept,
        "age": [records[i].age for i in kept],
        "gender": [records[i].gender for i in kept],
        "identity": [records[i].identity for i in kept],
        "device": [records[i].device for i in kept],
        "year": [records[i].year for i in kept],
        "source": [safe_name(records[i].path.relative_to(root)) for i in kept],
        "source_split": [records[i].source_split for i in kept],
        "race": [records[i].race for i in kept],
    })
    images = np.load(npy, mmap_mode="r")
    if name == "utkface":
        # UTKFace repeats photos (some with other labels) under other names: near-identical faces
        # share an identity, so that a split never holds one copy and another split the other.
        groups = same_photo_groups([images[i] for i in kept])
        manifest["identity"] = manifest["identity"].to_numpy()[groups]
    manifest["split"] = assign_splits(name, manifest, seed, asian_test)
    manifest.to_csv(csv, index=False)
    rep = report.to_dict()
    rep["splits"] = manifest["split"].value_counts().sort_index().to_dict()
    rep["split_hashes"] = split_hashes(manifest, images)
    if name == "utkface":
        rep["near_duplicate_faces"] = int(manifest["identity"].duplicated(keep=False).sum())
    meta_path.write_text(json.dumps({"key": key, "params": params, "report": rep}, ensure_ascii=False))
    return {**rep, "cached": False, "data_hash": key}


def _read_journal(journal: Path, key: str, tmp: Path, shape) -> dict:
    """{record index: (status, md5)} of a prepare of the same inputs that stopped part-way."""
    if not (journal.exists() and tmp.exists()):
        return {}
    lines = journal.read_text().splitlines()
    try:
        same = lines[0] == key and np.load(tmp, mmap_mode="r").shape == shape
    except (IndexError, ValueError, OSError):
        same = False
    if not same:
        return {}
    done = {}
    for line in lines[1:]:
        parts = line.split("\t")
        if len(parts) == 3:  # a line cut by the kill is simply done again
            done[int(parts[0])] = (parts[1], parts[2])
    return done


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


# Two UTKFace crops are one photo when their 16 x 16 grey thumbnails differ by less than this mean
# absolute grey level. Measured on real chips: repeats (some relabelled, e.g. 16_0_4_… and 18_0_4_…)
# differ by 0.6-1.1, different people whose 64-bit hashes collide by 18 or more.
SAME_PHOTO_GREY = 5.0


def dhash(face: np.ndarray) -> int:
    """A 64-bit difference hash of a face crop: near-identical photos get hashes a few bits apart."""
    g = np.asarray(Image.fromarray(np.asarray(face)).convert("L").resize((9, 8), Image.BILINEAR), np.int16)
    bits = (g[:, 1:] > g[:, :-1]).ravel()
    return int(np.packbits(bits).view(">u8")[0])


def thumbnail(face: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(np.asarray(face)).convert("L").resize((16, 16), Image.BILINEAR), np.float32)


def same_photo_groups(faces) -> np.ndarray:
    """Groups of near-identical face crops (see `near_duplicate_groups`), confirmed on thumbnails:
    aligned faces of different people can share a coarse hash."""
    thumbs = [thumbnail(f) for f in faces]
    return near_duplicate_groups(np.array([dhash(f) for f in faces], dtype=np.uint64),
                                 same=lambda i, j: float(np.abs(thumbs[i] - thumbs[j]).mean()) < SAME_PHOTO_GREY)


def near_duplicate_groups(hashes: np.ndarray, max_bits: int = 4, same=None) -> np.ndarray:
    """For each hash, the index of the first hash of its group: hashes at most `max_bits` apart (and,
    given `same(i, j)`, confirmed by it) are joined, transitively. Two such hashes agree exactly on
    one of five bit ranges (pigeonhole), so only hashes sharing a range are compared."""
    parent = np.arange(len(hashes))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i
    for shift, width in ((0, 13), (13, 13), (26, 13), (39, 13), (52, 12)):
        keys = (hashes >> np.uint64(shift)) & np.uint64((1 << width) - 1)
        order = np.argsort(keys, kind="stable")
        for bucket in np.split(order, np.flatnonzero(np.diff(keys[order])) + 1):
            if len(bucket) < 2 or len(bucket) > 2000:  # a huge bucket: blank or uniform images; skip
                continue
            for k, i in enumerate(bucket):
                near = np.flatnonzero([bin(int(hashes[i] ^ hashes[j])).count("1") <= max_bits for j in bucket[k + 1:]])
                for j in bucket[k + 1:][near]:
                    if same is not None and root(i) != root(j) and not same(i, j):
                        continue
                    a, b = root(i), root(j)
                    parent[max(a, b)] = min(a, b)
    return np.array([root(i) for i in range(len(hashes))])


def assign_splits(name: str, manifest: pd.DataFrame, seed: int, asian_test: bool = False) -> pd.Series:
    """Identity-disjoint splits: every photo of one identity lands in the same split.

    asian_test (UTKFace without MegaAge-Asian): a seeded set of Asian (race 2) identities, up to
    ASIAN_TEST_FACES faces and ASIAN_TEST_SHARE of them, becomes the split `asian_test`, held out of
    train / val / test. UTKFace has no identity labels: near-identical photos are kept together, but
    one person can still appear on both sides."""
    if name == "megaage_asian":
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
    rng = np.random.default_rng([seed, len(ids)])
    ids = ids[rng.permutation(len(ids))]
    bounds = np.round(np.cumsum(list(fractions.values())) * len(ids)).astype(int)
    split_of, start = {}, 0
    for split, end in zip(fractions, bounds):
        for i in ids[start:end]:
            split_of[i] = split
        start = end
    return manifest["identity"].map(split_of).where(~held, "asian_test")


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
    leaves the image the crop is padded with black; a face at the edge of a
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
    # Outside a small scan, fill with the photo's mean colour: a black frame would tell the
    # model which faces were small scans (FG-NET's older, younger-age photos).
    fill = tuple(int(v) for v in np.asarray(img.resize((8, 8)), dtype=np.float32).reshape(-1, 3).mean(0))
    face = img.transform((work, work), Image.AFFINE, data=tuple(inv[:2].ravel()), resample=Image.BILINEAR,
                         fillcolor=fill)
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
