"""Age prediction on a user's own photo: detect faces, crop them as `prepare` does, and run
every trained condition found under `weights/`."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .config import CONDITIONS
from .data.augment import normalize_batch
from .data.datasets import to_tensor
from .data.prepare import crop_face, decode_photo
from .data.records import FaceRecord

# OpenCV's frontal cascades; the second is tried when the first finds nothing.
CASCADES = ("haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt2.xml")
EYE_CASCADE = "haarcascade_eye.xml"
# A Haar box spans brows to chin. Widening it by this margin per side and moving it up by
# HAAR_SHIFT of its height gives the framing the models were trained on (a UTKFace-style
# chip: the whole head with a little background). Measured on composed synthetic photos:
# a Haar box is ~1.05x the face box and the chip ~1.67x, centred ~0.14 box heights higher.
HAAR_MARGIN = 0.3
HAAR_SHIFT = 0.09
PREDICT_GROUPS = [(0, 9), (10, 19), (20, 29), (30, 39), (40, 49), (50, 59), (60, 200)]
# Faces are searched on a copy of the photo at most this many pixels on its long side (a 12-megapixel
# photo answers in seconds); boxes are mapped back to the photo's own pixels.
MAX_DETECT_SIDE = 1600
# A photo is taken as an already-cropped face (as `--whole-image`) when its largest face, widened by
# the crop margin, would need at least this share of the photo's shorter side: the face fills the frame.
FACE_CROP_SHARE = 0.9


def age_group(age: float) -> str:
    for lo, hi in PREDICT_GROUPS:
        if age < hi + 1:
            return f"{lo}+" if hi >= 200 else f"{lo}-{hi}"
    return "60+"


@dataclass
class FacePrediction:
    photo: str
    box: tuple | None = None           # (x0, y0, x1, y1) in the upright photo's pixels
    ages: dict = field(default_factory=dict)   # condition → predicted age
    error: str = ""                    # why there is no prediction for this photo
    whole_image: bool = False          # the photo was taken as one face crop

    @property
    def groups(self) -> dict:
        return {c: age_group(a) for c, a in self.ages.items()}

    def describe(self) -> str:
        if self.error:
            return f"{self.photo}: {self.error}"
        where = "whole image as a face crop" if self.whole_image else \
            "face at (" + ", ".join(f"{v:.0f}" for v in self.box) + ")"
        ages = "; ".join(f"{c} {a:.1f} ({age_group(a)})" for c, a in self.ages.items())
        return f"{self.photo}: {where}: {ages}"

    def to_dict(self) -> dict:
        """One JSON object per face (or per photo without one), for `facelib predict --json`."""
        return {"photo": self.photo, "box": [round(v, 1) for v in self.box] if self.box else None,
                "whole_image": self.whole_image, "ages": {c: round(a, 2) for c, a in self.ages.items()},
                "groups": self.groups, "error": self.error or None}


@functools.lru_cache(maxsize=None)
def _cascade(name):
    import cv2
    casc = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / name))
    if casc.empty():
        raise RuntimeError(f"OpenCV has no {name}: opencv-python-headless 5.x wheels ship no Haar cascades; "
                           "install opencv-python-headless<5 (see requirements.txt)")
    return casc


def detect_faces(img: np.ndarray, min_size: int = 32) -> list[tuple]:
    """Face boxes (x0, y0, x1, y1) in an RGB uint8 image, largest first.

    Searched on a copy at most MAX_DETECT_SIDE pixels on its long side (boxes come back in `img`'s
    pixels). A box is kept when OpenCV's eye cascade finds an eye in its upper part; when no box has
    one, the box the face cascade is surest of is kept. On 251 of FG-NET's real scans this kept the
    recall (0.972 against 0.964 for every box) and cut false boxes from 0.255 to 0.024 per photo."""
    import cv2
    h, w = img.shape[:2]
    scale = min(1.0, MAX_DETECT_SIDE / max(h, w))
    small = img if scale == 1.0 else cv2.resize(img, (round(w * scale), round(h * scale)),
                                                interpolation=cv2.INTER_AREA)
    grey = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
    for name in CASCADES:
        found, _, weights = _cascade(name).detectMultiScale3(grey, scaleFactor=1.05, minNeighbors=3,
                                                             minSize=(min_size, min_size), outputRejectLevels=True)
        if len(found):
            boxes = [(x, y, x + bw, y + bh) for x, y, bw, bh in found]
            kept = [b for b in boxes if _has_eye(grey, b)] or [boxes[int(np.argmax(np.ravel(weights)))]]
            kept.sort(key=lambda b: -(b[2] - b[0]))
            return _drop_overlaps([tuple(float(v) / scale for v in b) for b in kept])
    return []


def _has_eye(grey: np.ndarray, box) -> bool:
    x0, y0, x1, y1 = box
    upper = grey[y0:y0 + int((y1 - y0) * 0.6), x0:x1]
    side = max(6, int((x1 - x0) * 0.1))
    return len(_cascade(EYE_CASCADE).detectMultiScale(upper, scaleFactor=1.1, minNeighbors=3,
                                                       minSize=(side, side))) > 0


def is_face_crop(box, width: int, height: int) -> bool:
    """True when the face fills the frame: its box widened by the crop margin needs at least
    FACE_CROP_SHARE of the photo's shorter side (see `predict`)."""
    side = max(box[2] - box[0], box[3] - box[1]) * (1 + 2 * HAAR_MARGIN)
    return side >= FACE_CROP_SHARE * min(width, height)


def _drop_overlaps(boxes, iou_max=0.3):
    kept = []
    for b in boxes:
        if all(_iou(b, k) <= iou_max for k in kept):
            kept.append(b)
    return kept


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def seed_paths(paths):
    """Paths whose weights folder holds trained conditions: `paths` itself, or the lowest model seed
    under it (weights/seed<k>/, as `facelib run` writes them)."""
    from .conditions import weights_path
    if paths.seed is not None or any(weights_path(paths, n).exists() for n in CONDITIONS):
        return paths
    seeds = sorted(int(p.name[4:]) for p in paths.weights_dir.glob("seed*") if p.name[4:].isdigit())
    return paths.for_seed(seeds[0]) if seeds else paths


def load_conditions(paths, names=CONDITIONS) -> dict:
    """{condition: (regressor, config)} for every condition whose weights exist (model seed: see `seed_paths`)."""
    from .conditions import MultitrainModel, load_model, weights_path
    paths = seed_paths(paths)
    models = {}
    for name in names:
        if weights_path(paths, name).exists():
            model, cfg = load_model(name, paths)
            models[name] = (model.regressor if isinstance(model, MultitrainModel) else model, cfg)
    if not models:
        raise FileNotFoundError(f"no trained conditions under {paths.weights_dir} (looked for "
                                f"{', '.join(n + '.pt' for n in names)}); run `facelib run` first")
    return models


@torch.no_grad()
def predict_faces(img: np.ndarray, boxes, models: dict, aligned: bool = False) -> list[dict]:
    """Ages per condition for each detector box of an RGB image; with `aligned`, the
    whole image is one face chip (boxes are ignored)."""
    pil = Image.fromarray(img)
    out = []
    for x0, y0, x1, y1 in boxes:
        shift = HAAR_SHIFT * (y1 - y0)
        box = (x0, y0 - shift, x1, y1 - shift)
        ages = {}
        for name, (model, cfg) in models.items():
            rec = FaceRecord(path=Path(""), age=0, identity="", box=None if aligned else box, aligned=aligned)
            face = crop_face(pil, rec, cfg.image_size, HAAR_MARGIN)
            x = normalize_batch(to_tensor(face)[None])
            ages[name] = float(model.eval()(x)[0])
        out.append(ages)
    return out


def predict(photos, paths=None, conditions=CONDITIONS, detect: bool = True, models=None) -> list[FacePrediction]:
    """Detect faces in each photo and predict their age with every trained condition.

    photos: paths, or (name, bytes) pairs of photos held in memory (the upload widget).
    detect=False treats each whole photo as one aligned face (an already-cropped face). With
        detection, a photo whose face fills the frame (`is_face_crop`) is treated the same way.
    Photos are turned upright by their EXIF orientation first. Each photo is on its own: a missing,
    unreadable or failing one comes back with `error` set, and the others are still answered.
    """
    if models is None:
        from .paths import get_paths
        models = load_conditions(paths or get_paths(), conditions)
    results = []
    for photo in ([photos] if isinstance(photos, (str, Path)) else photos):
        try:
            results += _predict_one(photo, models, detect)
        except FileNotFoundError:
            results.append(FacePrediction(_name(photo), error="file not found"))
        except Exception as e:  # one bad photo must not end a batch
            results.append(FacePrediction(_name(photo), error=f"failed ({type(e).__name__}: {e})"))
    return results


def _predict_one(photo, models, detect: bool) -> list[FacePrediction]:
    try:
        img = np.asarray(load_photo(photo))
    except (FileNotFoundError, IsADirectoryError):
        raise
    except Exception as e:  # PIL raises several types for non-images
        return [FacePrediction(_name(photo), error=f"not a readable image ({type(e).__name__})")]
    h, w = img.shape[:2]
    whole = (0.0, 0.0, float(w), float(h))
    boxes = detect_faces(img) if detect else [whole]
    if not boxes:
        return [FacePrediction(_name(photo), error="no face found (a photo that is already a face crop: "
                                                     "--whole-image)")]
    crop = not detect or is_face_crop(boxes[0], w, h)
    if crop:
        boxes = [whole]
    return [FacePrediction(_name(photo), box=box, ages=ages, whole_image=crop)
            for box, ages in zip(boxes, predict_faces(img, boxes, models, aligned=crop))]


def load_photo(photo) -> Image.Image:
    """A photo (path, or (name, bytes)) as upright RGB, as `prepare` reads training images."""
    raw = photo[1] if isinstance(photo, tuple) else Path(photo).read_bytes()
    return decode_photo(raw)


def _name(photo) -> str:
    return photo[0] if isinstance(photo, tuple) else str(photo)


def draw_predictions(photo, preds: list[FacePrediction]) -> Image.Image:
    """The photo with each face's box and its ages drawn on it."""
    img = load_photo(photo)
    d = ImageDraw.Draw(img)
    for p in preds:
        if p.box is None:
            continue
        d.rectangle(p.box, outline=(255, 40, 40), width=max(2, img.width // 200))
        text = "\n".join(f"{c}: {a:.0f}" for c, a in p.ages.items())
        try:
            font = ImageFont.load_default(size=max(11, img.height // 24))
        except TypeError:  # Pillow < 10.1 has one fixed-size default font
            font = ImageFont.load_default()
        below = p.box[3] + 3 + font.size * 1.2 * len(p.ages) <= img.height
        d.multiline_text((p.box[0] + 3, p.box[3] + 3 if below else p.box[1] + 3), text, fill=(255, 255, 255),
                         font=font, stroke_width=2, stroke_fill=(0, 0, 0))
    return img
