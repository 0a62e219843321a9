"""Finding a face and its eyes in a photo, and where a training face's square lies there.

OpenCV's three frontal-face cascades run on the plain grey photo; each box implies where a
training face's square (a UTKFace chip's framing, `ALIGN_TEMPLATE`) would lie (`BOX_WINDOW`);
boxes that agree are one face; the eye cascade's pupils, when it finds a pair, pull that square
toward theirs (`EYES_WEIGHT`) and set its slant. `prepare` frames the images of an aligned dataset
whose own framing is not the training faces' this way (`frame_photo`), and `facelib predict` frames
a user's photo the same way."""
from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .align import ALIGN_TEMPLATE

# OpenCV's three frontal-face cascades, all run on the plain grey photo (not histogram-equalised, which
# hides real faces and eyes: docs/predict.md); a face is where their boxes agree.
CASCADES = ("haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt.xml",
            "haarcascade_frontalface_alt2.xml")
EYE_CASCADE = "haarcascade_eye.xml"
# Where the training faces' framing (a UTKFace chip's square) lies in each cascade's box, as fractions
# of the box's side: centre x, centre y, side. Medians over faces no test holds, each with its square
# known: 200 UTKFace chips that are training chips with and without UTKFace's Asian hold-out, placed
# in 400 larger photos (the chip's square), and 400 original images of AAF's train list (the square
# that puts its landmarks' eyes on the template's pupils), as `facelib check-predict --fit` measures
# them (docs/predict.md).
BOX_WINDOW = {"haarcascade_frontalface_default.xml": (0.502, 0.584, 0.976),
              "haarcascade_frontalface_alt.xml": (0.501, 0.588, 0.980),
              "haarcascade_frontalface_alt2.xml": (0.503, 0.590, 0.995)}
# The framing from the eyes (when the eye cascade finds a pair) counts this much against the framing
# from the face boxes: the weight that framed those photos best (the same fit).
EYES_WEIGHT = 0.5
# Faces are searched on a copy of the photo at most this many pixels on its long side (a 12-megapixel
# photo answers in seconds); boxes are mapped back to the photo's own pixels.
MAX_DETECT_SIDE = 1600


def framing_constants() -> dict:
    """The constants `frame_photo` frames a face with: part of the key of a prepared cache framed
    by it, so that new constants prepare such a dataset again."""
    return {"cascades": list(CASCADES), "box_window": {k: list(v) for k, v in BOX_WINDOW.items()},
            "eyes_weight": EYES_WEIGHT, "max_detect_side": MAX_DETECT_SIDE}


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
        if all(iou(square(f.window), square(k.window)) <= 0.3 for k in out):
            out.append(f)
    return sorted(out, key=lambda f: -f.window[2])


def detect_faces(img: np.ndarray, min_size: int = 32) -> list[tuple]:
    """Face boxes (x0, y0, x1, y1) in an RGB uint8 image, largest first (see `locate_faces`)."""
    return [f.box for f in locate_faces(img, min_size)]


def search_scale(shape) -> float:
    """The scale of the copy of an image of `shape` that faces are searched on: at most
    MAX_DETECT_SIDE pixels on its long side."""
    return min(1.0, MAX_DETECT_SIDE / max(shape[:2]))


def locate_faces(img: np.ndarray, min_size: int = 32) -> list[Face]:
    """Each face in an RGB uint8 image, largest first (`group_faces`), searched on a copy at
    `search_scale`; results in `img`'s pixels."""
    scale = search_scale(img.shape)
    faces = group_faces(detections(_grey(img, scale), min_size))
    return [replace(f, box=tuple(v / scale for v in f.box), window=f.window / scale,
                    eyes=None if f.eyes is None else f.eyes / scale) for f in faces]


def square(window) -> tuple:
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
    return square(eyes_window(eyes))


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


@dataclass
class Framing:
    """Where a photo's face lies, as `frame_photo` found it."""
    pupils: np.ndarray   # (2, 2): where the training template's pupils lie in the photo, image-left first
    how: str             # "face boxes and eyes" or "face boxes"


def frame_photo(img) -> Framing | None:
    """The framing of the largest face in a photo (an RGB PIL image or uint8 array): the template's
    pupils in the square a training face would fill (`locate_faces`); None when no face is found."""
    faces = locate_faces(np.asarray(img))
    if not faces:
        return None
    face = faces[0]
    return Framing(face.pupils, "face boxes and eyes" if face.eyes is not None else "face boxes")
