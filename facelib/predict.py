"""Age on a user's own photo, as the study would give it: find each face and its eyes, align it onto
the template `prepare` aligned the training faces to (same framing, border fill and size), and run
every trained condition of one model seed.

How a face is framed is said with each answer (`alignment`):
- "face boxes and eyes": OpenCV's frontal-face cascades found the face (two of the three agree, or one
  with the eyes found); each box implies where a training face's square would lie (`BOX_WINDOW`,
  measured on real training chips), and the eye cascade's pupils pull that square toward theirs
  (`EYES_WEIGHT`) and set its slant.
- "face boxes": the same without a pair of eyes: upright, framed from the boxes alone.
- "whole photo": the photo is itself a face crop (its face's square would fill it, as in a UTKFace
  or MegaAge chip, or it has a face crop's size and shape: at most CROP_MAX_SIDE px, about square):
  it is taken whole, as `prepare` takes a chip. Also with `--whole-image`.
- "whole photo (no face found)": no face was found, but the photo has a face crop's size and shape.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .config import CONDITIONS
from .data.align import ALIGN_TEMPLATE, MIN_FACE_PIXELS, align_face, crop_face
from .data.augment import normalize_batch
from .data.datasets import to_tensor
from .data.decode import decode_photo
from .data.records import FaceRecord
from .metrics import age_group

# OpenCV's three frontal-face cascades, all run on the plain grey photo; a face is where their boxes
# agree. Histogram equalisation (used before) hid about one real face in ten and most eyes.
CASCADES = ("haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt.xml",
            "haarcascade_frontalface_alt2.xml")
EYE_CASCADE = "haarcascade_eye.xml"
# Where the training faces' framing (a UTKFace chip's square) lies in each cascade's box, as fractions
# of the box's side: centre x, centre y, side. Medians over 200 UTKFace chips of the training split
# placed in larger photos, as `facelib check-predict --fit` measures them (docs/predict.md).
BOX_WINDOW = {"haarcascade_frontalface_default.xml": (0.507, 0.586, 1.008),
              "haarcascade_frontalface_alt.xml": (0.505, 0.590, 1.011),
              "haarcascade_frontalface_alt2.xml": (0.508, 0.593, 1.026)}
# The framing from the eyes (when the eye cascade finds a pair) counts this much against the framing
# from the face boxes: the weight that framed those training chips best (the same fit).
EYES_WEIGHT = 0.3
# Faces are searched on a copy of the photo at most this many pixels on its long side (a 12-megapixel
# photo answers in seconds); boxes are mapped back to the photo's own pixels.
MAX_DETECT_SIDE = 1600
# A photo whose aligned face window covers at least this share of it (intersection over union) is a
# face crop, taken whole as `prepare` takes a chip; so is a photo with a face crop's size and shape (no
# larger than CROP_MAX_SIDE on its long side, about square), whatever is found in it: on 1,000 UTKFace
# training and validation chips, the 8 not taken whole under an earlier exception (both eyes found,
# face window under 40% of the photo) were aged 23-51 years off (7 were under 5). 320 px lies
# above the published chips (UTKFace 200, MegaAge-Asian 178 x 218) and below FG-NET's smallest scan
# (361 px): set so after `facelib check-predict` showed FG-NET scans taken whole at 640 (docs/predict.md).
FACE_CROP_IOU = 0.7
CROP_MAX_SIDE, CROP_ASPECT = 320, (0.7, 1.45)
EXIT_ANSWERED, EXIT_NO_FACE, EXIT_USAGE, EXIT_WEIGHTS = 0, 1, 2, 3


class WeightsError(RuntimeError):
    """Weights that cannot be used: unreadable, of another architecture, or of different data."""


@dataclass
class Models:
    """The trained conditions of one model seed, and where they came from."""
    models: dict           # condition → (regressor, config)
    weights_dir: Path
    seed: int | None
    data: str              # "synthetic" or "real"
    data_id: str
    preset: str

    @property
    def synthetic(self) -> bool:
        return self.data == "synthetic"

    @property
    def provenance(self) -> str:
        seed = f"seed {self.seed}" if self.seed is not None else "no seed folder"
        what = ("trained on synthetic faces: ages are not meaningful for real photos" if self.synthetic
                else f"trained on real photographs ({self.data_id})")
        return f"models: {', '.join(self.models)} from {self.weights_dir} ({seed}, preset {self.preset}; {what})"


def seed_dir(weights_dir: Path, seed: int | None = None) -> tuple[Path, int | None]:
    """The folder of one model seed's weights: weights/seed<k>/ (the lowest seed unless `seed` is
    given); the folder itself only when it holds no seed folders (weights written before seeds)."""
    weights_dir = Path(weights_dir)
    seeds = sorted(int(p.name[4:]) for p in weights_dir.glob("seed*") if p.name[4:].isdigit() and p.is_dir())
    if seed is not None:
        if seed not in seeds:
            raise FileNotFoundError(f"{weights_dir}: no weights of seed {seed} (seeds there: {seeds or 'none'})")
        return weights_dir / f"seed{seed}", seed
    if seeds:
        return weights_dir / f"seed{seeds[0]}", seeds[0]
    return weights_dir, None


def load_models(paths, seed: int | None = None, names=CONDITIONS) -> Models:
    """The trained conditions of one model seed, with their provenance. Raises FileNotFoundError
    when there are none, and WeightsError for weights that are unreadable, of another architecture,
    or trained on different data from each other."""
    from .models.build import model_from_checkpoint, regressor_of
    from .train import CheckpointError, load_checkpoint
    folder, seed = (paths.weights_dir, paths.seed) if paths.seed is not None else seed_dir(paths.weights_dir, seed)
    found = [n for n in names if (folder / f"{n}.pt").exists()]
    if not found:
        raise FileNotFoundError(f"no trained conditions under {folder} (looked for "
                                f"{', '.join(n + '.pt' for n in names)}); run `facelib run` first")
    models, origin = {}, {}
    for name in found:
        path = folder / f"{name}.pt"
        try:
            ckpt = load_checkpoint(path)
            model, cfg = model_from_checkpoint(name, ckpt)
        except CheckpointError as e:
            raise WeightsError(str(e).split(";")[0] + "; train it again (or delete it)") from None
        except (RuntimeError, KeyError, TypeError, ValueError) as e:
            first = str(e).strip().splitlines()[0][:160]
            raise WeightsError(f"{path}: not weights of a facelib {name} model this version can load ({first})") from None
        models[name] = (regressor_of(model).eval(), cfg)
        origin[name] = (ckpt.get("data", "unknown"), ckpt.get("data_id", ""), ckpt.get("preset", cfg.preset))
    if len(set(origin.values())) > 1:
        raise WeightsError("the conditions under " + str(folder) + " were trained on different data ("
                           + "; ".join(f"{n}: {d} {i} {p}" for n, (d, i, p) in origin.items())
                           + "); train them again on one data folder, or pass --weights of one study")
    data, data_id, preset = next(iter(origin.values()))
    return Models(models, folder, seed, data, data_id, preset)


@dataclass
class FacePrediction:
    photo: str
    box: tuple | None = None           # (x0, y0, x1, y1) in the upright photo's pixels
    ages: dict = field(default_factory=dict)   # condition → predicted age
    error: str = ""                    # why there is no prediction for this photo
    alignment: str = ""                # how the face was framed (see the module doc)
    eyes: tuple | None = None          # ((x, y), (x, y)): where the aligned face's pupils lie in the photo

    @property
    def whole_image(self) -> bool:
        return self.alignment.startswith("whole photo")

    @property
    def groups(self) -> dict:
        return {c: age_group(a) for c, a in self.ages.items()}

    def describe(self) -> str:
        if self.error:
            return f"{self.photo}: {self.error}"
        where = self.alignment if self.whole_image else \
            "face at (" + ", ".join(f"{v:.0f}" for v in self.box) + f"), aligned from its {self.alignment}"
        ages = "; ".join(f"{c} {a:.1f} ({age_group(a)})" for c, a in self.ages.items())
        return f"{self.photo}: {where}: {ages}"

    def to_dict(self) -> dict:
        """One JSON object per face (or per photo without one), for `facelib predict --json`."""
        return {"photo": self.photo, "box": [round(v, 1) for v in self.box] if self.box else None,
                "alignment": self.alignment or None, "whole_image": self.whole_image,
                "eyes": [[round(v, 1) for v in e] for e in self.eyes] if self.eyes else None,
                "ages": {c: round(a, 2) for c, a in self.ages.items()}, "groups": self.groups,
                "error": self.error or None}


# ---------------------------------------------------------------- finding faces and eyes

@functools.lru_cache(maxsize=None)
def _cascade(name):
    import cv2
    casc = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / name))
    if casc.empty():
        raise RuntimeError(f"OpenCV has no {name}: opencv-python-headless 5.x wheels ship no Haar cascades; "
                           "install opencv-python-headless<5 (see requirements.txt)")
    return casc


def _grey(img: np.ndarray, scale: float) -> np.ndarray:
    import cv2
    h, w = img.shape[:2]
    small = img if scale == 1.0 else cv2.resize(img, (round(w * scale), round(h * scale)),
                                                interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)


@dataclass
class Face:
    """One face found in a photo (pixels of the photo)."""
    box: tuple                 # (x0, y0, x1, y1): the middle of the cascades' boxes
    window: np.ndarray         # (centre x, centre y, side) of the square framed like a training face
    eyes: np.ndarray | None    # the pupils the eye cascade found (image-left first), or None
    support: int               # how many of the cascades found it
    boxes: int = 1             # how many cascade boxes found it

    @property
    def pupils(self) -> np.ndarray:
        """The points the face is aligned from: the template's pupils in `window`, turned about its
        centre by the slant of the eyes when they were found (a tilted head comes out upright, as the
        landmark-aligned training faces did)."""
        pupils = window_pupils(self.window)
        if self.eyes is None:
            return pupils
        dx, dy = self.eyes[1] - self.eyes[0]
        a = np.arctan2(dy, dx)
        turn = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        centre = np.asarray(self.window[:2])
        return (pupils - centre) @ turn.T + centre


def window_pupils(window) -> np.ndarray:
    """The template's pupils (ALIGN_TEMPLATE) in a square (centre x, centre y, side)."""
    cx, cy, side = window
    return np.array([cx, cy]) + (ALIGN_TEMPLATE[:2] - 0.5) * side


def box_window(box, name: str = CASCADES[0], table=None) -> np.ndarray:
    """The training framing (centre x, centre y, side) that a `name` cascade box implies (`table`:
    BOX_WINDOW unless given)."""
    x0, y0, x1, _ = box
    fx, fy, fs = (table or BOX_WINDOW)[name]
    side = x1 - x0
    return np.array([x0 + fx * side, y0 + fy * side, fs * side])


def eyes_window(eyes: np.ndarray) -> np.ndarray:
    """The training framing (centre x, centre y, side) that puts `eyes` on the template's pupils
    (rotation ignored)."""
    side = np.linalg.norm(eyes[1] - eyes[0]) / (ALIGN_TEMPLATE[1, 0] - ALIGN_TEMPLATE[0, 0])
    centre = eyes.mean(0) + (0.5 - ALIGN_TEMPLATE[:2].mean(0)) * side
    return np.array([*centre, side])


@dataclass
class Detection:
    """One box of one face cascade, with the eye cascade's boxes (x, y, w, h) in its upper part."""
    cascade: str
    box: tuple
    confidence: float
    eye_boxes: list


def detections(grey: np.ndarray, min_size: int = 32) -> list[Detection]:
    """Every box each of CASCADES finds in `grey`, with its eye boxes: the slow part of finding faces."""
    out = []
    for name in CASCADES:
        found, _, weights = _cascade(name).detectMultiScale3(grey, scaleFactor=1.05, minNeighbors=3,
                                                             minSize=(min_size, min_size), outputRejectLevels=True)
        for (x, y, bw, bh), wt in zip(found, np.ravel(weights)):
            box = (int(x), int(y), int(x + bw), int(y + bh))
            out.append(Detection(name, box, float(wt), _eye_boxes(grey, box)))
    return out


def group_faces(found: list[Detection], table=None, eyes_weight: float | None = None) -> list[Face]:
    """The faces `found` shows (in its pixels), largest first.

    Every box implies a training framing (`table`, BOX_WINDOW unless given); boxes whose framings
    agree (centres within 0.3 of the side, sides within 0.7–1.4×) are one face, framed by their
    median, moved `eyes_weight` (EYES_WEIGHT unless given) of the way to the framing from the eyes
    when the eye cascade finds a pair. A face is kept when two cascades found it or its eyes were
    found; when none is, the face most boxes found is. Of faces overlapping by more than 0.3
    (intersection over union), the better supported is kept."""
    eyes_weight = EYES_WEIGHT if eyes_weight is None else eyes_weight
    groups = []   # [[(window, detection, eyes), ...], ...]
    for d in sorted(found, key=lambda d: -d.confidence):
        win = box_window(d.box, d.cascade, table)
        member = (win, d, find_eyes(d.eye_boxes, d.box, window_pupils(win)))
        for g in groups:
            mid = np.median([m[0] for m in g], 0)
            if np.hypot(*(win[:2] - mid[:2])) < 0.3 * mid[2] and 0.7 < win[2] / mid[2] < 1.4:
                g.append(member)
                break
        else:
            groups.append([member])
    faces = []
    for g in groups:
        window = np.median([m[0] for m in g], 0)
        pairs = [m[2] for m in g if m[2] is not None]
        eyes = np.median(pairs, 0) if pairs else None
        if eyes is not None:
            window = (1 - eyes_weight) * window + eyes_weight * eyes_window(eyes)
        box = tuple(float(v) for v in np.median([m[1].box for m in g], 0))
        faces.append(Face(box, window, eyes, len({m[1].cascade for m in g}), len(g)))
    kept = [f for f in faces if f.support >= 2 or f.eyes is not None]
    if not kept and faces:
        kept = [max(faces, key=lambda f: (f.support, f.boxes, f.window[2]))]
    kept.sort(key=lambda f: (-f.support, -f.boxes))
    out = []
    for f in kept:
        if all(_iou(_square(f.window), _square(k.window)) <= 0.3 for k in out):
            out.append(f)
    return sorted(out, key=lambda f: -f.window[2])


def detect_faces(img: np.ndarray, min_size: int = 32) -> list[tuple]:
    """Face boxes (x0, y0, x1, y1) in an RGB uint8 image, largest first (see `locate_faces`)."""
    return [f.box for f in locate_faces(img, min_size)]


def locate_faces(img: np.ndarray, min_size: int = 32) -> list[Face]:
    """Each face in an RGB uint8 image, largest first (`group_faces`), searched on a copy at most
    MAX_DETECT_SIDE pixels on its long side; results in `img`'s pixels."""
    h, w = img.shape[:2]
    scale = min(1.0, MAX_DETECT_SIDE / max(h, w))
    faces = group_faces(detections(_grey(img, scale), min_size))
    return [replace(f, box=tuple(v / scale for v in f.box), window=f.window / scale,
                    eyes=None if f.eyes is None else f.eyes / scale) for f in faces]


def _square(window) -> tuple:
    """(centre x, centre y, side) → (x0, y0, x1, y1)."""
    cx, cy, side = window
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def _eye_boxes(grey: np.ndarray, box) -> list[tuple]:
    """Eye cascade boxes (x, y, w, h) in the upper 60% of a face box, in `grey`'s pixels."""
    x0, y0, x1, y1 = box
    upper = grey[y0:y0 + int((y1 - y0) * 0.6), x0:x1]
    side = max(6, int((x1 - x0) * 0.1))
    found = _cascade(EYE_CASCADE).detectMultiScale(upper, scaleFactor=1.1, minNeighbors=3, minSize=(side, side))
    return [(x + x0, y + y0, w, h) for x, y, w, h in found]


def find_eyes(eye_boxes, box, prior: np.ndarray) -> np.ndarray | None:
    """The pupils (image-left first) of the face in `box`: of its eye cascade boxes, the pair with a
    face's geometry (one each side of the middle, level, similar sizes, a plausible distance apart)
    nearest `prior` (where the box's framing puts them); None when no pair qualifies."""
    x0, y0, x1, y1 = box
    side = x1 - x0
    cands = [np.array([x + w / 2, y + h / 2, w]) for x, y, w, h in eye_boxes]
    best, best_cost = None, np.inf
    for i, a in enumerate(cands):
        for b in cands[i + 1:]:
            left, right = (a, b) if a[0] < b[0] else (b, a)
            gap = (right[0] - left[0]) / side
            if not (0.22 <= gap <= 0.6 and abs(right[1] - left[1]) <= 0.12 * side
                    and max(left[2], right[2]) <= 1.7 * min(left[2], right[2])
                    and left[0] < x0 + side / 2 < right[0]):
                continue
            cost = np.linalg.norm(np.array([left[:2], right[:2]]) - prior) / side
            if cost < best_cost and cost < 0.35:
                best, best_cost = np.array([left[:2], right[:2]]), cost
    return best


def aligned_window(eyes: np.ndarray) -> tuple:
    """The square (x0, y0, x1, y1) of the photo that aligning from `eyes` crops (rotation ignored)."""
    return _square(eyes_window(eyes))


def is_face_crop(window, width: int, height: int) -> bool:
    """True when the aligned face window covers the photo (intersection over union ≥ FACE_CROP_IOU):
    the photo is itself a face crop, to be taken whole as `prepare` takes a chip."""
    return bool(_iou(window, (0.0, 0.0, float(width), float(height))) >= FACE_CROP_IOU)


def looks_like_a_face_crop(width: int, height: int) -> bool:
    """A photo with a face crop's size and shape (small, about square): taken whole, found face or not."""
    return max(width, height) <= CROP_MAX_SIDE and CROP_ASPECT[0] <= height / width <= CROP_ASPECT[1]


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


# ---------------------------------------------------------------- ages

def face_input(img: Image.Image, size: int, eyes: np.ndarray | None) -> np.ndarray | None:
    """The face as the models saw training faces: aligned from the pupils onto `ALIGN_TEMPLATE`
    (`prepare`'s alignment, border fill included), or, with `eyes` None, the photo taken whole as
    `prepare` takes a chip (its central square). None when it is too small to hold a face."""
    if eyes is None:
        return crop_face(img, FaceRecord(path=Path(""), age=0, identity="", aligned=True), size, 0.0)
    return align_face(img, eyes, size, ALIGN_TEMPLATE[:2])


@torch.no_grad()
def model_age(model, face: np.ndarray) -> float:
    """One model's age of one prepared face (uint8, H x W x 3, at the model's input size)."""
    return float(model(normalize_batch(to_tensor(face)[None]))[0])


def ages_of(img: Image.Image, eyes: np.ndarray | None, models: Models) -> dict | None:
    """{condition: age} of one face (see `face_input`), each model at its own input size."""
    out = {}
    for name, (model, cfg) in models.models.items():
        face = face_input(img, cfg.image_size, eyes)
        if face is None:
            return None
        out[name] = model_age(model, face)
    return out


def predict(photos, paths=None, conditions=CONDITIONS, detect: bool = True, models: Models | None = None,
            seed: int | None = None) -> list[FacePrediction]:
    """Find each face in each photo, align it as the training faces were, and predict its age with
    every trained condition of one model seed.

    photos: paths, or (name, bytes) pairs of photos held in memory (the upload widget).
    detect=False takes each whole photo as one face crop (`--whole-image`).
    Photos are turned upright by their EXIF orientation first. Each photo is on its own: a missing,
    unreadable or failing one comes back with `error` set, and the others are still answered."""
    if models is None:
        from .paths import get_paths
        models = load_models(paths or get_paths(), seed, conditions)
    results = []
    one = isinstance(photos, (str, Path)) or (isinstance(photos, tuple) and len(photos) == 2
                                              and isinstance(photos[1], (bytes, bytearray)))
    for photo in ([photos] if one else photos):
        try:
            results += _predict_one(photo, models, detect)
        except FileNotFoundError:
            results.append(FacePrediction(_name(photo), error="file not found"))
        except Exception as e:  # one bad photo must not end a batch
            results.append(FacePrediction(_name(photo), error=f"failed ({type(e).__name__}: {e})"))
    return results


def _predict_one(photo, models: Models, detect: bool) -> list[FacePrediction]:
    try:
        pil = load_photo(photo)
    except (FileNotFoundError, IsADirectoryError):
        raise
    except Exception as e:  # PIL raises several types for non-images
        return [FacePrediction(_name(photo), error=f"not a readable image ({type(e).__name__})")]
    w, h = pil.size
    whole = (0.0, 0.0, float(w), float(h))
    name = _name(photo)
    if min(w, h) < MIN_FACE_PIXELS:
        return [FacePrediction(name, error=f"too small for a face ({w} × {h} pixels; at least {MIN_FACE_PIXELS} "
                                           "on each side)")]
    if not detect:
        return [FacePrediction(name, whole, ages_of(pil, None, models), alignment="whole photo (--whole-image)")]
    located = locate_faces(np.asarray(pil))
    crop_like = looks_like_a_face_crop(w, h)
    if not located:
        if crop_like:
            return [FacePrediction(name, whole, ages_of(pil, None, models),
                                   alignment="whole photo (no face found; it has a face crop's size and shape)")]
        return [FacePrediction(name, error="no face found (a photo that is already a face crop: --whole-image)")]
    if crop_like or is_face_crop(_square(located[0].window), w, h):
        return [FacePrediction(name, whole, ages_of(pil, None, models),
                               alignment="whole photo (the photo is a face crop)")]
    out = []
    for face in located:
        ages = ages_of(pil, face.pupils, models)
        if ages is None:
            continue
        how = "face boxes and eyes" if face.eyes is not None else "face boxes"
        out.append(FacePrediction(name, face.box, ages, alignment=how, eyes=tuple(map(tuple, face.pupils.tolist()))))
    return out or [FacePrediction(name, error="no face large enough to age")]


def load_photo(photo) -> Image.Image:
    """A photo (path, or (name, bytes)) as upright RGB, as `prepare` reads training images."""
    raw = photo[1] if isinstance(photo, tuple) else Path(photo).read_bytes()
    return decode_photo(raw)


def _name(photo) -> str:
    return photo[0] if isinstance(photo, tuple) else str(photo)


def draw_predictions(photo, preds: list[FacePrediction]) -> Image.Image:
    """The photo with each face's box, its eyes and its ages drawn on it."""
    img = load_photo(photo)
    d = ImageDraw.Draw(img)
    for p in preds:
        if p.box is None or p.error:
            continue
        width = max(2, img.width // 200)
        d.rectangle(p.box, outline=(255, 40, 40), width=width)
        for x, y in p.eyes or ():
            r = width * 2
            d.ellipse((x - r, y - r, x + r, y + r), outline=(40, 220, 255), width=width)
        text = "\n".join(f"{c}: {a:.0f}" for c, a in p.ages.items())
        try:
            font = ImageFont.load_default(size=max(11, img.height // 24))
        except TypeError:  # Pillow < 10.1 has one fixed-size default font
            font = ImageFont.load_default()
        size = getattr(font, "size", 11)
        below = p.box[3] + 3 + size * 1.2 * len(p.ages) <= img.height
        d.multiline_text((p.box[0] + 3, p.box[3] + 3 if below else p.box[1] + 3), text, fill=(255, 255, 255),
                         font=font, stroke_width=2, stroke_fill=(0, 0, 0))
    return img


def annotated_names(photos) -> dict:
    """{photo: file name} for `--save-annotated`: each photo's own name, made unique where two photos
    in different folders share one (a/x.jpg → x.jpg, b/x.jpg → x-2.jpg)."""
    out, used = {}, set()
    for photo in photos:
        stem = Path(photo).stem
        name, k = f"{stem}.jpg", 1
        while name in used:
            k += 1
            name = f"{stem}-{k}.jpg"
        used.add(name)
        out[photo] = name
    return out
