"""`facelib check-predict`: does `facelib predict` give a photo the age the study gave the same face?

On a study's test faces (real photographs, never drawn ones, to mean anything), with one seed's
trained models: each test photo given as a file (UTKFace chips; AAF's original images, which the
study aligned from AAF's landmarks); UTKFace chips placed in larger plain, gradient or textured photos
at random positions, at their own size and enlarged; AAF's aligned faces framed without landmarks, as
`prepare` frames an aligned dataset such as MegaAge-Asian (`data.detect.frame_photo`, the dataset's
median framing where no face is found); and, where FG-NET is in the data folder, its scans, whose
faces the study aligned from their landmarks. For each, the share of faces
answered, how far predict's age lies from the evaluation's on the same face (median, share within
half a year), both MAEs against the true ages and their ratio with a 95% interval over the faces.

`fit_framing` (`check-predict --fit`) measures predict's framing constants (`BOX_WINDOW`, `EYES_WEIGHT`)
again on faces no test holds: UTKFace chips of the training split, placed in larger photos the same
way, and, where AAF is prepared, original images of AAF's train list against their landmarks."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from ..config import TEST_SPLIT
from ..data.align import ALIGN_TEMPLATE, align_face
from ..data.cache import FaceCache
from ..data.decode import decode_photo
from ..data.detect import (
    BOX_WINDOW,
    CASCADES,
    EYES_WEIGHT,
    _grey,
    detections,
    eyes_window,
    frame_photo,
    group_faces,
    search_scale,
    square,
)
from ..data.readers import aaf_eyes, aaf_root
from ..data.splits import assign_splits
from .models import load_models, model_age
from .predict import predict


def _backgrounds(rng, w, h):
    kind = rng.integers(3)
    if kind == 0:
        return Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(40, 230, 3)))
    if kind == 1:
        a, b = rng.integers(30, 230, 3), rng.integers(30, 230, 3)
        t = np.linspace(0, 1, h)[:, None, None]
        return Image.fromarray(np.broadcast_to(a * (1 - t) + b * t, (h, w, 3)).astype(np.uint8))
    base = rng.integers(60, 200, 3)
    noise = rng.normal(0, 25, (h // 8 + 1, w // 8 + 1, 1))
    arr = np.clip(base + np.kron(noise, np.ones((8, 8, 1)))[:h, :w], 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def _place(chip: Image.Image, scale: float, rng) -> tuple[Image.Image, tuple]:
    """The chip, scaled, at a random place in a photo about four times its area."""
    c = chip.resize((round(chip.width * scale), round(chip.height * scale)), Image.BICUBIC)
    w, h = round(c.width * 2.2 + 200), round(c.height * 1.7 + 150)
    photo = _backgrounds(rng, w, h)
    x, y = int(rng.integers(0, w - c.width)), int(rng.integers(0, h - c.height))
    photo.paste(c, (x, y))
    return photo, (x, y, x + c.width, y + c.height)


def _row(case, preds, true, evals, hows) -> dict:
    answered = [p is not None for p in preds]
    p = np.array([v for v in preds if v is not None])
    t, e = np.asarray(true, float)[answered], np.asarray(evals, float)[answered]
    d = np.abs(p - e) if len(p) else np.array([np.nan])
    counts = pd.Series([h for h in hows if h]).value_counts()
    ratio, interval = _mae_ratio(np.abs(p - t), np.abs(e - t)) if len(p) else (float("nan"), [float("nan")] * 2)
    return {"case": case, "faces": len(preds), "answered": float(np.mean(answered)),
            "same_age": f"{np.mean(d <= 0.5):.1%}", "median_distance": float(np.median(d)),
            "median_distance_95": _median_interval(d),
            "mae_predict": float(np.abs(p - t).mean()) if len(p) else float("nan"),
            "mae_evaluation": float(np.abs(e - t).mean()) if len(e) else float("nan"),
            "mae_ratio": ratio, "mae_ratio_95": interval,
            "alignment": ", ".join(f"{k} {v}" for k, v in counts.items())}


def _mae_ratio(err_predict, err_evaluation, resamples: int = 2000):
    """MAE of predict over MAE of the evaluation on the same faces, and its 95% interval from
    resampling the faces (paired; percentile bootstrap, seeded): how much the faces drawn move it."""
    ratio = float(err_predict.mean() / err_evaluation.mean())
    idx = _resampled_faces(len(err_predict), resamples)
    boot = err_predict[idx].mean(1) / err_evaluation[idx].mean(1)
    return ratio, [float(v) for v in np.percentile(boot, [2.5, 97.5])]


def _median_interval(distances, resamples: int = 2000) -> list[float]:
    """95% interval of the median |predict − evaluation| from resampling the faces (percentile
    bootstrap, seeded): how much the faces drawn move it, for this one model."""
    if not len(distances) or np.isnan(distances).any():
        return [float("nan")] * 2
    idx = _resampled_faces(len(distances), resamples)
    return [float(v) for v in np.percentile(np.median(distances[idx], axis=1), [2.5, 97.5])]


def _resampled_faces(n: int, resamples: int):
    """The bootstrap's draws of n faces with replacement (resamples × n indices), seeded: every
    statistic over the same n faces gets the same draws. Each repeat of a photo is drawn as a face of
    its own."""
    return np.random.default_rng(0).integers(0, n, (resamples, n))


def _centre_in(box, region) -> bool:
    """Whether the centre of `box` lies in `region` (both x0, y0, x1, y1)."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return region[0] <= cx <= region[2] and region[1] <= cy <= region[3]


def _on_face(preds, region):
    """The answer whose face lies in `region` (x0, y0, x1, y1) of the photo, or None."""
    return next((p for p in preds if p.ages and p.box and _centre_in(p.box, region)), None)


def check(paths, cfg, condition: str = "baseline", faces: int = 300, seed: int | None = None,
          start: int = 0, progress: bool = True, split: str = "", files_only: bool = False) -> dict:
    """The measurements above for one seed's `condition` (the lowest seed unless `seed` is given) on
    test faces `start` to `start + faces` of one fixed shuffled order (the same for every seed and
    run; a later `start` gives faces no earlier check used); returns {"cases": [...], ...}.

    split: AAF only, check the faces of another of its splits (e.g. "train": faces no test holds, on
        which the framing was fixed); their evaluation's age is the model's on their prepared crop.
    files_only: only the first case (the test photos given as files; AAF's original images)."""
    models = load_models(paths, seed, names=[condition])
    sp = paths.for_seed(models.seed) if models.seed is not None else paths
    dataset, test_split = TEST_SPLIT[cfg.test_set]
    if split and split != test_split:
        if dataset != "aaf":
            raise ValueError(f"--split {split}: only AAF's faces are checked off the test split (here {dataset})")
        rows = FaceCache(paths.cache_dir, dataset).split(split)
        rows = rows.iloc[np.random.default_rng(0).permutation(len(rows))[start:start + faces]]
        model, _ = models.models[condition]
        cache = FaceCache(paths.cache_dir, dataset)
        sample = pd.DataFrame({"source": rows["source"].to_numpy(), "age": rows["age"].to_numpy(float),
                               "pred": [model_age(model, cache.images[int(i)]) for i in rows["index"]]})
    else:
        evals = pd.read_csv(sp.results_dir / "predictions" / f"{condition}.csv", keep_default_na=False)
        sample = evals.iloc[np.random.default_rng(0).permutation(len(evals))[start:start + faces]]
    if sample.empty:
        raise ValueError(f"no faces from {start} on")
    rng = np.random.default_rng(start + 1)   # placements and backgrounds
    cases = []
    files = [paths.data_root / dataset / s for s in sample["source"]]
    got = [predict(f, models=models)[0] for f in tqdm(files, desc="test photos as files", disable=not progress)]
    label = {"aaf": f"AAF {'test' if not split or split == test_split else split} faces given as their original "
                    "images (the evaluation aligned them from AAF's landmarks)",
             "utkface": "test chips given as files"}.get(dataset, "test photos given as files")
    cases.append(_row(label, [g.ages.get(condition) if g.ages else None for g in got], sample["age"], sample["pred"],
                      [g.alignment for g in got]))
    if dataset == "utkface" and not files_only:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            for scale, label in ((1.0, "at their own size"), (2.0, "enlarged 2x")):
                preds, hows = [], []
                for k, f in enumerate(tqdm(files, desc=f"in larger photos, {label}", disable=not progress)):
                    photo, region = _place(Image.open(f).convert("RGB"), scale, rng)
                    path = tmp / f"{k}.jpg"
                    photo.save(path, quality=95)
                    hit = _on_face(predict(path, models=models), region)
                    preds.append(hit.ages[condition] if hit else None)
                    hows.append(hit.alignment if hit else "")
                cases.append(_row(f"the same chips in larger photos, {label}", preds, sample["age"], sample["pred"],
                                  hows))
    if dataset == "aaf" and not files_only:
        cases.append(_aaf_aligned_case(paths, models, condition, sample, progress))
    if (paths.data_root / "fgnet").is_dir() and not files_only:
        case, fgnet_used = _fgnet_case(paths, models, condition, faces, start, progress)
        cases.append(case)
    else:
        fgnet_used = []
    return {"condition": condition, "seed": models.seed, "data": models.data, "data_id": models.data_id,
            "test_set": cfg.test_set, "split": split or test_split, "faces_from": start, "cases": cases,
            "faces_used": {dataset: [str(v) for v in sample["source"]], "fgnet": fgnet_used}}


def _fgnet_case(paths, models, condition, faces, start, progress):
    """FG-NET scans whole, against the model on the study's own landmark-aligned crop of each: scans
    of the people outside `prepare`'s order-task training split (predict's framing was developed on
    that split's scans), `start` to `start + faces` of one fixed shuffled order. Returns the case and
    the scans it read."""
    cache = FaceCache(paths.cache_dir, "fgnet")
    rows = cache.manifest[cache.manifest["split"] != "pretext_train"]
    rows = rows.iloc[np.random.default_rng(0).permutation(len(rows))[start:start + faces]]
    model, _ = models.models[condition]
    preds, evals, hows = [], [], []
    for _, r in tqdm(list(rows.iterrows()), desc="FG-NET scans", disable=not progress):
        evals.append(model_age(model, cache.images[int(r["index"])]))
        got = predict(paths.data_root / "fgnet" / r["source"], models=models)
        best = next((g for g in got if g.ages), None)
        preds.append(best.ages[condition] if best else None)
        hows.append(best.alignment if best else "")
    return _row("FG-NET scans of people predict was not developed on (the study aligned them from their "
                "landmarks)", preds, rows["age"], evals, hows), [str(v) for v in rows["source"]]


def _aaf_aligned_case(paths, models, condition, sample, progress) -> dict:
    """AAF's aligned faces (its own head-and-shoulders framing) of the sampled test faces, framed as
    `prepare` frames an aligned dataset without landmarks: from the face and eyes found in each, and
    with the median framing of those found where none is; aged by the model against the evaluation's
    age of the same faces (aligned from AAF's landmarks)."""
    model, cfg = models.models[condition]
    folder = aaf_root(paths.data_root / "aaf") / "aglined faces"
    imgs = [Image.open(folder / Path(s).name).convert("RGB") for s in sample["source"]]
    framed = [frame_photo(img) for img in tqdm(imgs, desc="AAF aligned faces, framed", disable=not progress)]
    found = [f.pupils / np.array(img.size, float) for f, img in zip(framed, imgs) if f is not None]
    median = np.median(found, axis=0) if found else None
    preds, hows = [], []
    for img, f in zip(imgs, framed):
        pupils = f.pupils if f is not None else None if median is None else median * np.array(img.size, float)
        face = align_face(img, pupils, cfg.image_size, ALIGN_TEMPLATE[:2]) if pupils is not None else None
        preds.append(model_age(model, face) if face is not None else None)
        hows.append(f.how if f is not None else "the median framing (no face found)" if face is not None else "")
    return _row("AAF's aligned faces framed without landmarks (as prepare frames MegaAge-Asian)", preds,
                sample["age"], sample["pred"], hows)


def write(result: dict, out) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    return out


EYES_WEIGHTS = tuple(np.round(np.arange(0, 1.01, 0.1), 1))
UTKFACE_PLACED = "UTKFace training chips in larger photos"
AAF_ORIGINALS = "AAF train-list original images"


def fit_framing(paths, faces: int = 200, seed: int = 0, progress: bool = True) -> dict:
    """Predict's framing constants measured on faces no test holds, each with the square a training
    face would fill known:
    - `faces` UTKFace chips of the prepared training split (and of the training split of the other
      setting, with or without UTKFace's Asian hold-out), each placed in a larger photo at its own
      size and enlarged 2x: the square is the chip's;
    - where AAF is prepared, 2 x `faces` of the original images of AAF's train list (real photos,
      not pasted; the test is AAF's val list): the square is the one that puts the eyes of AAF's
      landmarks on the template's pupils, as the evaluation aligns them.
    From them (`fit_from`), per cascade the median place of that square in the cascade's boxes
    (`BOX_WINDOW`), and of EYES_WEIGHTS the eyes weight with which predict's own grouping frames
    all these photos with the least error (`EYES_WEIGHT`). Returns the fitted and the current
    values, each source's and the pooled errors and answered shares, and the faces it read."""
    manifest = FaceCache(paths.cache_dir, "utkface").manifest
    train = manifest[(manifest["split"] == "train") & (_other_utkface_split(paths.cache_dir, manifest) == "train")]
    if train.empty:
        raise ValueError(f"{paths.cache_dir}: no prepared UTKFace training chips to fit on")
    rng = np.random.default_rng(seed)
    rows = train.iloc[rng.permutation(len(train))[:faces]]
    found = []   # per photo: (source, the square (centre x, centre y, side), detections)
    for source in tqdm(rows["source"], desc="fitting on UTKFace chips", disable=not progress):
        chip = Image.open(paths.data_root / "utkface" / source).convert("RGB")
        for scale in (1.0, 2.0):
            photo, (x0, y0, x1, y1) = _place(chip, scale, rng)
            found.append((UTKFACE_PLACED, np.array([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0]),
                          detections(_grey(np.asarray(photo), 1.0))))
    aaf = _aaf_train_originals(paths, 2 * faces, seed, progress)
    found += [(AAF_ORIGINALS, window, dets) for window, dets in aaf["photos"]]
    result = fit_from(found)
    return {"faces": int(len(rows)), "photos": len(found), "aaf_faces": len(aaf["used"]), **result,
            "current": {"box_window": {k: tuple(v) for k, v in BOX_WINDOW.items()}, "eyes_weight": EYES_WEIGHT},
            "chips": [str(v) for v in rows["source"]], "aaf_used": aaf["used"]}


def _other_utkface_split(cache_dir, manifest) -> pd.Series:
    """UTKFace's splits in the other setting: with its Asian hold-out as the test where this cache
    has none (an Asian test set is prepared), without it where this cache has it. The fit reads
    chips that are training chips in both, so that no setting's test face is among them."""
    params = json.loads((Path(cache_dir) / "utkface.meta.json").read_text())["params"]
    return assign_splits("utkface", manifest, params["seed"], asian_test=not params.get("asian_test", False))


def _aaf_train_originals(paths, faces: int, seed: int, progress: bool) -> dict:
    """`faces` original images of AAF's train list (prepared; none when AAF is not), each with the
    square that puts its landmarks' eyes on the template's pupils and its detections, both in the
    pixels `locate_faces` searches (the copy at `search_scale`)."""
    if not (paths.cache_dir / "aaf.csv").exists():
        return {"photos": [], "used": []}
    rows = FaceCache(paths.cache_dir, "aaf").split("train")
    rows = rows.iloc[np.random.default_rng(seed).permutation(len(rows))[:faces]]
    photos, used = [], []
    for source in tqdm(rows["source"], desc="fitting on AAF originals", disable=not progress):
        path = paths.data_root / "aaf" / source
        eyes = aaf_eyes(paths.data_root / "aaf", path)
        if eyes is None:
            continue
        img = np.asarray(decode_photo(path.read_bytes()))
        scale = search_scale(img.shape)
        photos.append((eyes_window(eyes) * scale, detections(_grey(img, scale))))
        used.append(str(source))
    return {"photos": photos, "used": used}


def fit_from(found) -> dict:
    """The framing constants from `found`: (source, true square (centre x, centre y, side),
    detections) per photo. box_window: per cascade, the median of the true square's place in the
    boxes whose centre lies in it (fractions of the box's side), over every photo (the value in use
    for a cascade with no such box, named in box_window_kept); framing_error:
    per eyes weight, the root mean square length of predict's framing's error (centre's offset x, y,
    side's change, in % of the true side) over the photos it answers, pooled and per source (with
    the share answered); eyes_weight: the weight of least pooled error; current_error: the same
    error with the constants in use."""
    rel = {name: [] for name in CASCADES}
    for _, (cx, cy, side), dets in found:
        region = square((cx, cy, side))
        for d in dets:
            bx0, by0, bx1, _ = d.box
            if _centre_in(d.box, region):
                rel[d.cascade].append(np.array([cx - bx0, cy - by0, side]) / (bx1 - bx0))
    fitted = {name: tuple(round(float(x), 3) for x in np.median(v, 0)) if v else tuple(BOX_WINDOW[name])
              for name, v in rel.items()}   # a cascade with no box on a face keeps the value in use
    sources = list(dict.fromkeys(src for src, _, _ in found))

    def errors(weight, table=fitted):
        errs = {s: [] for s in sources}
        seen = {s: [] for s in sources}
        for src, true, dets in found:
            face = next((f for f in group_faces(dets, table, weight) if _centre_in(f.box, square(true))), None)
            seen[src].append(face is not None)
            if face is not None:
                errs[src].append(np.r_[(face.window[:2] - true[:2]) / true[2], face.window[2] / true[2] - 1] * 100)
        return errs, seen

    def rms(errs):
        return round(float(np.sqrt(np.mean(np.sum(np.square(errs), 1)))), 2) if len(errs) else float("nan")

    pooled, answered, by_source = {}, {}, {s: {"photos": 0, "framing_error": {}, "answered": {}} for s in sources}
    for w in EYES_WEIGHTS:
        errs, seen = errors(w)
        pooled[float(w)] = rms([e for s in sources for e in errs[s]])
        answered[float(w)] = float(np.mean([a for s in sources for a in seen[s]]))
        for s in sources:
            by_source[s]["photos"] = len(seen[s])
            by_source[s]["framing_error"][float(w)] = rms(errs[s])
            by_source[s]["answered"][float(w)] = float(np.mean(seen[s]))
    best = min(pooled, key=pooled.get)
    errs, seen = errors(EYES_WEIGHT, dict(BOX_WINDOW))   # the constants in use, on the same photos
    for s in sources:
        by_source[s]["current_error"] = rms(errs[s])
    return {"answered": answered[best], "box_window": fitted, "eyes_weight": best, "framing_error": pooled,
            "box_window_kept": [name for name, v in rel.items() if not v],
            "answered_by_weight": answered, "sources": by_source,
            "current_error": rms([e for s in sources for e in errs[s]]),
            "current_answered": float(np.mean([a for s in sources for a in seen[s]]))}
