"""Age on a user's own photo, as the study would give it: find each face and its eyes, align it onto
the template `prepare` aligned the training faces to (same framing, border fill and size), and run
every trained condition of one model seed.

How a face is framed is said with each answer (`alignment`):
- "face boxes and eyes": OpenCV's frontal-face cascades found the face (`data.detect`: two of the three
  agree, or one with the eyes found); each box implies where a training face's square would lie, and
  the eye cascade's pupils pull that square toward theirs and set its slant. `prepare` frames the
  faces of MegaAge-Asian's aligned images the same way.
- "face boxes": the same without a pair of eyes: upright, framed from the boxes alone.
- "whole photo (the photo is a face crop)": the square a training face would fill covers the photo,
  or the photo has a chip's size and shape (at most CROP_MAX_SIDE px, square: a UTKFace chip): it is
  taken whole, as `prepare` takes a chip. Also with `--whole-image`.
- "whole photo (no face found)": no face was found, but the photo has a chip's size and shape.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..config import CONDITIONS
from ..data.align import ALIGN_TEMPLATE, MIN_FACE_PIXELS, align_face, crop_face
from ..data.decode import decode_photo
from ..data.detect import iou, locate_faces, square
from ..data.records import FaceRecord
from ..paths import get_paths
from ..study.metrics import age_group
from .models import Models, load_models, model_age

# A photo whose aligned face window covers at least this share of it (intersection over union) is a
# face crop, taken whole as `prepare` takes a chip; so is a photo with a chip's size and shape (no
# larger than CROP_MAX_SIDE on its long side, square within CROP_ASPECT), whatever is found in it: in
# UTKFace's 200 x 200 chips the cascades' boxes meet the photo's edge and imply a square about 13%
# smaller than the chip, or find a small false face (docs/predict.md). MegaAge-Asian's 178 x 218 images
# and AAF's aligned faces (the whole head) are not square: their faces are found and aligned, as
# `prepare` frames them. 320 px lies above the published chips and below FG-NET's smallest scan (361 px).
FACE_CROP_IOU = 0.7
CROP_MAX_SIDE, CROP_ASPECT = 320, (0.9, 1.1)
EXIT_ANSWERED, EXIT_NO_FACE, EXIT_USAGE, EXIT_WEIGHTS = 0, 1, 2, 3


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


# ---------------------------------------------------------------- framing a photo's face

def is_face_crop(window, width: int, height: int) -> bool:
    """True when the aligned face window covers the photo (intersection over union ≥ FACE_CROP_IOU):
    the photo is itself a face crop, to be taken whole as `prepare` takes a chip."""
    return bool(iou(window, (0.0, 0.0, float(width), float(height))) >= FACE_CROP_IOU)


def looks_like_a_face_crop(width: int, height: int) -> bool:
    """A photo with a face crop's size and shape (small, about square): taken whole, found face or not."""
    return max(width, height) <= CROP_MAX_SIDE and CROP_ASPECT[0] <= height / width <= CROP_ASPECT[1]


# ---------------------------------------------------------------- ages

def face_input(img: Image.Image, size: int, eyes: np.ndarray | None) -> np.ndarray | None:
    """The face as the models saw training faces: aligned from the pupils onto `ALIGN_TEMPLATE`
    (`prepare`'s alignment, border fill included), or, with `eyes` None, the photo taken whole as
    `prepare` takes a chip (its central square). None when it is too small to hold a face."""
    if eyes is None:
        return crop_face(img, FaceRecord(path=Path(""), age=0, identity="", aligned=True), size, 0.0)
    return align_face(img, eyes, size, ALIGN_TEMPLATE[:2])


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
    if crop_like or is_face_crop(square(located[0].window), w, h):
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


