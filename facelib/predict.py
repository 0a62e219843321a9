"""Age prediction on a user's own photo: detect faces, crop them as `prepare` does, and run
every trained condition found under `weights/`."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .config import CONDITIONS
from .data.augment import normalize_batch
from .data.datasets import to_tensor
from .data.prepare import crop_face
from .data.records import FaceRecord

# OpenCV's frontal cascades; the second is tried when the first finds nothing.
CASCADES = ("haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt2.xml")
# A Haar box spans brows to chin. Widening it by this margin per side and moving it up by
# HAAR_SHIFT of its height gives the framing the models were trained on (a UTKFace-style
# chip: the whole head with a little background). Measured on composed synthetic photos:
# a Haar box is ~1.05x the face box and the chip ~1.67x, centred ~0.14 box heights higher.
HAAR_MARGIN = 0.3
HAAR_SHIFT = 0.09
PREDICT_GROUPS = [(0, 9), (10, 19), (20, 29), (30, 39), (40, 49), (50, 59), (60, 200)]


def age_group(age: float) -> str:
    for lo, hi in PREDICT_GROUPS:
        if age < hi + 1:
            return f"{lo}+" if hi >= 200 else f"{lo}-{hi}"
    return "60+"


@dataclass
class FacePrediction:
    photo: str
    box: tuple | None = None           # (x0, y0, x1, y1) in photo pixels
    ages: dict = field(default_factory=dict)   # condition → predicted age
    error: str = ""                    # why there is no prediction for this photo

    @property
    def groups(self) -> dict:
        return {c: age_group(a) for c, a in self.ages.items()}

    def describe(self) -> str:
        if self.error:
            return f"{self.photo}: {self.error}"
        box = ", ".join(f"{v:.0f}" for v in self.box)
        ages = "; ".join(f"{c} {a:.1f} ({age_group(a)})" for c, a in self.ages.items())
        return f"{self.photo}: face at ({box}): {ages}"


def _cascade(name):
    import cv2
    casc = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / name))
    if casc.empty():
        raise RuntimeError(f"OpenCV has no {name}: opencv-python-headless 5.x wheels ship no Haar cascades; "
                           "install opencv-python-headless<5 (see requirements.txt)")
    return casc


def detect_faces(img: np.ndarray, min_size: int = 32) -> list[tuple]:
    """Face boxes (x0, y0, x1, y1) in an RGB uint8 image, largest first."""
    import cv2
    grey = cv2.equalizeHist(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))
    for name in CASCADES:
        found = _cascade(name).detectMultiScale(grey, scaleFactor=1.05, minNeighbors=3,
                                                minSize=(min_size, min_size))
        if len(found):
            boxes = sorted(((x, y, x + w, y + h) for x, y, w, h in found), key=lambda b: -(b[2] - b[0]))
            return _drop_overlaps([tuple(float(v) for v in b) for b in boxes])
    return []


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
    detect=False treats each whole photo as one aligned face (an already-cropped face).
    Unreadable files and photos without a face come back with `error` set, not raised.
    """
    if models is None:
        from .paths import get_paths
        models = load_conditions(paths or get_paths(), conditions)
    results = []
    for photo in ([photos] if isinstance(photos, (str, Path)) else photos):
        try:
            with _open(photo) as im:
                img = np.asarray(im.convert("RGB"))
        except FileNotFoundError:
            results.append(FacePrediction(_name(photo), error="file not found"))
            continue
        except Exception as e:  # PIL raises several types for non-images
            results.append(FacePrediction(_name(photo), error=f"not a readable image ({type(e).__name__})"))
            continue
        h, w = img.shape[:2]
        boxes = detect_faces(img) if detect else [(0.0, 0.0, float(w), float(h))]
        if not boxes:
            results.append(FacePrediction(_name(photo), error="no face found"))
            continue
        for box, ages in zip(boxes, predict_faces(img, boxes, models, aligned=not detect)):
            results.append(FacePrediction(_name(photo), box=box, ages=ages))
    return results


def _open(photo) -> Image.Image:
    import io
    return Image.open(io.BytesIO(photo[1])) if isinstance(photo, tuple) else Image.open(photo)


def _name(photo) -> str:
    return photo[0] if isinstance(photo, tuple) else str(photo)


def draw_predictions(photo, preds: list[FacePrediction]) -> Image.Image:
    """The photo with each face's box and its ages drawn on it."""
    img = _open(photo).convert("RGB")
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
        d.multiline_text((p.box[0], p.box[3] + 3), text, fill=(255, 255, 255), font=font, stroke_width=2,
                         stroke_fill=(0, 0, 0))
    return img
