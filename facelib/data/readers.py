"""Readers for UTKFace, MegaAge-Asian, AIHub 71415, FG-NET and All-Age-Faces in their published layouts.

Each reader returns `(records, report)`: the faces it could use, and a
`SkipReport` that counts every input it could not use, by reason. Problems
with single files are skipped and counted; a folder that does not have the
dataset's layout raises `DatasetLayoutError` naming what was expected.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
from PIL import Image

from ..config import DATASETS
from .records import DatasetLayoutError, FaceRecord, SkipReport

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

UTK_NAME = re.compile(r"^(\d+)_([01])_([0-4])_(\d+)$")
AIHUB_NAME = re.compile(r"^(\d+)_(\d{4})_(\d+)_(\d+)_([A-Za-z])$")
# Capture years after the AIHub release are corrupt (birth + age in photo).
AIHUB_MAX_YEAR = 2023
UTK_MAX_AGE = 116


def _require_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        raise DatasetLayoutError(f"{path}: folder not found; expected {what}")


# ---------------------------------------------------------------- UTKFace

def read_utkface(root) -> tuple[list[FaceRecord], SkipReport]:
    """UTKFace: `{age}_{gender}_{race}_{datetime}.jpg.chip.jpg` (aligned) or `part*/…jpg` (in the wild).

    In-the-wild images use `landmark_list_part*.txt` (68 points per line) when
    present beside the part folders, else the whole image is used.
    """
    root = Path(root)
    _require_dir(root, "UTKFace images named {age}_{gender}_{race}_{datetime}.jpg[.chip.jpg]")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DatasetLayoutError(f"{root}: no .jpg files; expected UTKFace images "
                                 "named {age}_{gender}_{race}_{datetime}.jpg.chip.jpg")
    landmarks = _utk_landmarks(root)
    report = SkipReport("utkface", found=len(files))
    records = []
    for path in files:
        stem = re.split(r"\.(?:jpe?g|png)", path.name, maxsplit=1, flags=re.IGNORECASE)[0]
        m = UTK_NAME.match(stem)
        if not m:
            report.skip("malformed_name", path.relative_to(root))
            continue
        age, gender = int(m.group(1)), int(m.group(2))
        if age > UTK_MAX_AGE:
            report.skip("age_out_of_range", path.relative_to(root))
            continue
        aligned = ".chip." in path.name.lower()
        records.append(FaceRecord(path=path, age=float(age), identity=f"utk:{stem}", gender=gender,
                                  aligned=aligned, landmarks=None if aligned else landmarks.get(path.name),
                                  race=int(m.group(3))))
    return records, report


def _utk_landmarks(root: Path) -> dict:
    out = {}
    for f in root.glob("landmark_list*.txt"):
        for line in f.read_text().splitlines():
            parts = line.split()
            if len(parts) != 137:
                continue
            pts = np.array(parts[1:], float).reshape(68, 2)
            out[parts[0]] = np.stack([pts[36:42].mean(0), pts[42:48].mean(0), pts[30], pts[48], pts[54]])
    return out


# ---------------------------------------------------------------- MegaAge-Asian

def read_megaage(root) -> tuple[list[FaceRecord], SkipReport]:
    """MegaAge-Asian: `{train,test}/*.jpg` with `list/{split}_name.txt` and `list/{split}_age.txt`."""
    root = Path(root)
    _require_dir(root, "megaage_asian/ with train/, test/ and list/")
    _require_dir(root / "list", "list/{train,test}_name.txt and list/{train,test}_age.txt")
    report = SkipReport("megaage_asian")
    records = []
    for split in ("train", "test"):
        names_f, ages_f = root / "list" / f"{split}_name.txt", root / "list" / f"{split}_age.txt"
        for f in (names_f, ages_f):
            if not f.is_file():
                raise DatasetLayoutError(f"{f}: file not found; expected one line per {split} image")
        names = [s.strip() for s in _read_text(names_f).splitlines() if s.strip()]
        ages = [s.strip() for s in _read_text(ages_f).splitlines() if s.strip()]
        if len(names) != len(ages):
            raise DatasetLayoutError(
                f"{names_f} has {len(names)} names but {ages_f} has {len(ages)} ages; "
                "line i of one must match line i of the other")
        report.found += len(names)
        for name, age_s in zip(names, ages):
            path = root / split / name
            age = _parse_age(age_s)
            if age is None:
                report.skip("bad_age", f"{split}/{name}")
            elif not path.is_file():
                report.skip("image_missing", f"{split}/{name}")
            else:
                # Aligned in the CelebA style (the whole head, 178 x 218): framed like the training faces
                # from the face and eyes found in it.
                records.append(FaceRecord(path=path, age=age, identity=f"megaage:{split}/{name}",
                                          aligned=True, find_face=True, source_split=split))
    return records, report


def _read_text(path: Path) -> str:
    """A text file written on any system: UTF-8 with or without a byte-order mark, else CP949
    (Korean Windows); line ends of either kind are left to `splitlines`."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp949")


def _parse_age(value) -> float | None:
    try:
        age = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(age) or age < 0 or age > 130:
        return None
    return age


# ---------------------------------------------------------------- AIHub 71415

def read_aihub(root, max_year: int = AIHUB_MAX_YEAR) -> tuple[list[FaceRecord], SkipReport]:
    """AIHub Korean face aging: PNGs under `…/TS_*|VS_*` paired by stem with JSON labels under `…/TL_*|VL_*`."""
    root = Path(root)
    _require_dir(root, "aihub/ with Training/ and/or Validation/ (AIHub dataSetSn=71415)")
    images, labels, repeated = {}, {}, []
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        suffix = p.suffix.lower()
        kind = images if suffix in IMAGE_SUFFIXES else labels if suffix == ".json" else None
        if kind is None:
            continue
        if p.stem in kind:
            repeated.append(p)  # the same name in two folders: keep the first, count the rest
        else:
            kind[p.stem] = p
    if not images and not labels:
        raise DatasetLayoutError(f"{root}: no images or labels; expected Training/01.원천데이터/TS_*/*.png "
                                 "and Training/02.라벨링데이터/TL_*/*.json")
    stems = sorted(set(images) | set(labels))
    report = SkipReport("aihub", found=len(stems) + len(repeated))
    for p in repeated:
        report.skip("duplicate_name", p.relative_to(root))
    records = []
    for stem in stems:
        img, lbl = images.get(stem), labels.get(stem)
        if lbl is None:
            report.skip("image_without_label", img.relative_to(root))
            continue
        if img is None:
            report.skip("label_without_image", lbl.relative_to(root))
            continue
        rec = _aihub_record(img, lbl, root, report, max_year)
        if rec is not None:
            records.append(rec)
    return records, report


def _aihub_record(img: Path, lbl: Path, root: Path, report: SkipReport, max_year: int):
    rel = lbl.relative_to(root)
    try:
        label = json.loads(_read_text(lbl))
        if not isinstance(label, dict):
            raise ValueError("not a JSON object")
    except (ValueError, UnicodeDecodeError):
        report.skip("unreadable_label", rel)
        return None
    m = AIHUB_NAME.match(img.stem)
    if not m:
        report.skip("malformed_name", img.relative_to(root))
        return None
    pid, birth_s, age_s, _serial, letter = m.groups()
    age = _parse_age(label.get("age_past"))
    birth = label.get("birth")
    if age is None or not isinstance(birth, (int, float)) or not 1850 < birth < 2100:
        report.skip("bad_age", rel)
        return None
    if int(age) != int(age_s):
        report.skip("age_mismatch", rel)
        return None
    year = int(birth) + int(age)
    if year > max_year:
        report.skip("future_capture_year", rel)
        return None

    width, height = label.get("width"), label.get("height")
    if not all(isinstance(v, (int, float)) and v > 0 for v in (width, height)):
        width = height = None
    label_size = (float(width), float(height)) if width is not None else None
    box, landmarks = None, None
    ann = label.get("annotation")
    if isinstance(ann, list) and ann and isinstance(ann[0], dict):
        box = _parse_box(ann[0].get("box"))
        landmarks = _parse_landmarks(ann[0].get("landmark"))
    if box is None:
        report.skip("no_box", rel)
        return None
    if width is None:
        try:
            with Image.open(img) as im:  # reads the header only
                width, height = im.size
        except OSError:
            report.skip("unreadable_image", img.relative_to(root))
            return None
    x0, y0, x1, y1 = box
    cx0, cy0, cx1, cy1 = max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1)
    if cx1 <= cx0 or cy1 <= cy0:
        report.skip("box_outside_image", rel)
        return None
    if (cx0, cy0, cx1, cy1) != (x0, y0, x1, y1):
        report.note("box_clipped", rel)
    gender_s = label.get("gender")
    gender = {"male": 0, "female": 1}.get(gender_s, -1) if isinstance(gender_s, str) else -1
    if gender >= 0 and letter.upper() != ("F" if gender else "M"):
        report.note("filename_letter_disagrees_with_gender", rel)
    if landmarks is None:
        report.note("no_landmarks", rel)
    return FaceRecord(path=img, age=age, identity=f"aihub:{int(pid)}", gender=gender,
                      device=str(label.get("device", "")), year=year, box=(cx0, cy0, cx1, cy1),
                      landmarks=landmarks, source_split=_aihub_split(lbl.relative_to(root)),
                      label_size=label_size)


def _aihub_split(rel: Path) -> str:
    """Training or Validation, from the TS_/TL_ or VS_/VL_ folder (whatever its parents are called,
    or however their Korean names decoded), else from a Training/Validation folder."""
    for part in reversed(rel.parts[:-1]):
        prefix = part[:3].upper()
        if prefix in ("TS_", "TL_"):
            return "Training"
        if prefix in ("VS_", "VL_"):
            return "Validation"
    return next((p for p in rel.parts if p in ("Training", "Validation")), "")


def _parse_box(b):
    if not isinstance(b, dict):
        return None
    try:
        x, y, w, h = (float(b[k]) for k in ("x", "y", "w", "h"))
    except (KeyError, TypeError, ValueError):
        return None
    if not all(map(math.isfinite, (x, y, w, h))) or w <= 0 or h <= 0:
        return None
    return (x, y, x + w, y + h)


def _parse_landmarks(lm):
    """AIHub lists 5 points as nose, left eye, right eye, left mouth, right mouth."""
    try:
        pts = np.asarray(lm, dtype=float)
    except (TypeError, ValueError):
        return None
    if pts.shape != (5, 2) or not np.isfinite(pts).all():
        return None
    return pts[[1, 2, 0, 3, 4]]


# ---------------------------------------------------------------- FG-NET

FGNET_NAME = re.compile(r"^(\d{3})A(\d{2})([ab]?)$", re.IGNORECASE)
# FG-NET's own 68-point markup is not iBUG's. Drawn on its scans: 31 and 36 are the pupils (image
# left, right), 67 the nose tip (between the nostril wings 39 and 43), 48 and 54 the mouth corners.
FGNET_POINTS = [31, 36, 67, 48, 54]


def read_fgnet(root) -> tuple[list[FaceRecord], SkipReport]:
    """FG-NET: `images/NNNAxx[a|b].JPG` (person NNN at age xx; a, b: two photos at one age) with
    `points/nnnaxx[a|b].pts` (68 landmarks); faces are aligned from the eyes, nose tip and mouth corners."""
    root = Path(root)
    _require_dir(root / "images", "fgnet/images/NNNAxx.JPG (person NNN at age xx)")
    files = sorted(p for p in (root / "images").iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DatasetLayoutError(f"{root / 'images'}: no images; expected FG-NET's NNNAxx.JPG")
    points = {p.stem.lower(): p for p in (root / "points").glob("*") if p.suffix.lower() == ".pts"} \
        if (root / "points").is_dir() else {}
    report = SkipReport("fgnet", found=len(files))
    records = []
    for path in files:
        m = FGNET_NAME.match(path.stem)
        if not m:
            report.skip("malformed_name", path.relative_to(root))
            continue
        pts_file = points.get(path.stem.lower())
        pts = _read_pts(pts_file) if pts_file else None
        if pts is None:
            report.skip("points_missing" if pts_file is None else "bad_points", path.relative_to(root))
            continue
        records.append(FaceRecord(path=path, age=float(int(m.group(2))), identity=f"fgnet:{int(m.group(1))}",
                                  landmarks=pts[FGNET_POINTS]))
    return records, report


def _read_pts(path: Path):
    """The 68 (x, y) points of an ASM/AAM .pts file, or None if it has not 68 finite points."""
    try:
        text = _read_text(path)
        values = np.array(text[text.index("{") + 1:text.index("}")].split(), dtype=float)
    except (ValueError, UnicodeDecodeError):
        return None
    if values.size != 136 or not np.isfinite(values).all():
        return None
    return values.reshape(68, 2)


# ---------------------------------------------------------------- All-Age-Faces

AAF_FOLDER = "All-Age-Faces Dataset"
AAF_NAME = re.compile(r"^(\d{5})A(\d{2})$")
# Rows of AAF's 49 landmarks (in the original image's pixels) that outline each eye, image-left first.
AAF_EYES = (slice(19, 25), slice(25, 31))
AAF_LISTS = {"train": "train.txt", "val": "val.txt"}


def aaf_root(root) -> Path:
    """The folder holding AAF's own folders: `root` itself, or its `All-Age-Faces Dataset/`."""
    root = Path(root)
    return root / AAF_FOLDER if (root / AAF_FOLDER).is_dir() and not (root / "original images").is_dir() else root


def read_aaf(root) -> tuple[list[FaceRecord], SkipReport]:
    """All-Age-Faces: `original images/%05dA%02d.jpg` (an image index, then the age), the 49 landmarks of
    each in `key points/<name>.txt`, and the lists `image sets/train.txt` and `val.txt` (a file name per
    line; the second column is a 0/1 label, not an age). Faces are aligned from the eyes' landmarks in the
    original images. AAF names no people: every face is its own identity; its lists are its splits."""
    root = aaf_root(root)
    for folder, what in (("original images", "AAF's original images, %05dA%02d.jpg"),
                         ("key points", "AAF's 49 landmarks per face, <name>.txt"),
                         ("image sets", "AAF's lists train.txt and val.txt")):
        _require_dir(root / folder, what)
    listed = {}
    for split, name in AAF_LISTS.items():
        f = root / "image sets" / name
        if not f.is_file():
            raise DatasetLayoutError(f"{f}: file not found; expected one AAF file name per line")
        for line in _read_text(f).splitlines():
            if line.strip():
                listed.setdefault(line.split()[0], split)
    files = sorted(p for p in (root / "original images").iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    report = SkipReport("aaf", found=len(files))
    records = []
    for path in files:
        m = AAF_NAME.match(path.stem)
        if not m:
            report.skip("malformed_name", path.relative_to(root))
            continue
        split = listed.get(path.name)
        if split is None:
            report.skip("not_in_train_or_val_list", path.relative_to(root))
            continue
        eyes = aaf_eyes(root, path)
        if eyes is None:
            report.skip("points_missing_or_bad", path.relative_to(root))
            continue
        records.append(FaceRecord(path=path, age=float(int(m.group(2))), identity=f"aaf:{m.group(1)}",
                                  landmarks=eyes, source_split=split))
    return records, report


def aaf_eyes(root, photo) -> np.ndarray | None:
    """The eyes (image-left first; each the mean of its outline in AAF's 49 landmarks) of the AAF
    original image `photo`, in its pixels; None when its key points file has not 49 finite points."""
    pts = _read_aaf_points(aaf_root(root) / "key points" / f"{Path(photo).stem}.txt")
    if pts is None:
        return None
    eyes = np.stack([pts[AAF_EYES[0]].mean(0), pts[AAF_EYES[1]].mean(0)])
    return eyes[np.argsort(eyes[:, 0])]


def _read_aaf_points(path: Path):
    """The 49 (x, y) points of an AAF key points file, or None if it has not 49 finite points."""
    try:
        values = np.array(_read_text(path).split(), dtype=float)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if values.size != 98 or not np.isfinite(values).all():
        return None
    return values.reshape(49, 2)


READERS = {"utkface": read_utkface, "megaage_asian": read_megaage, "aaf": read_aaf, "aihub": read_aihub,
           "fgnet": read_fgnet}
assert tuple(READERS) == DATASETS
