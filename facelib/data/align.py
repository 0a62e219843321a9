"""Face geometry: crops from a box, and alignment of landmarks onto one template.

Every face the models see, in training (`prepare`) and in `facelib predict`, goes through here, so
a face is framed the same way wherever it comes from."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

from .records import FaceRecord

# Where the 5 landmarks (left eye, right eye, nose, mouth left, mouth right) land in an aligned
# crop, as fractions of its side: the framing of UTKFace's aligned chips, so that aligned FG-NET /
# AIHub faces (and faces found by `predict`) look like the faces the baseline learned from
# (docs/data.md: how it was measured).
ALIGN_TEMPLATE = np.array([[0.305, 0.29], [0.695, 0.29], [0.5, 0.52], [0.37, 0.69], [0.63, 0.69]])
MIN_FACE_PIXELS = 16  # a face smaller than this (box side) carries no usable detail


def crop_face(img: Image.Image, rec: FaceRecord, size: int, margin: float):
    """The face of `rec` as a (size, size, 3) uint8 array, or None if it is too small.

    With landmarks (the 5 of `ALIGN_TEMPLATE`, or its first 2: the pupils): a similarity transform
    onto the template. Aligned chips: the central square of the image. Else: the box, squared, plus
    margin. (Images whose framing is not the training faces', `rec.find_face`, are framed from the
    face found in them: `decode.process_record`.)
    """
    if rec.landmarks is not None:
        return align_face(img, rec.landmarks, size, ALIGN_TEMPLATE[:len(rec.landmarks)])
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


def align_face(img: Image.Image, landmarks: np.ndarray, size: int, template: np.ndarray = ALIGN_TEMPLATE):
    """The face whose landmarks (the first two the pupils) are `landmarks`, mapped by a similarity
    transform onto `template` (the rows of ALIGN_TEMPLATE they stand for), as (size, size, 3) uint8;
    None when the eyes are too close together to hold a usable face."""
    eye_dist = np.linalg.norm(landmarks[1] - landmarks[0])
    if eye_dist < MIN_FACE_PIXELS / 4:
        return None
    # Work at 2x and shrink with a proper filter, to avoid aliasing on large photos.
    work = size * 2
    m = similarity_transform(np.asarray(landmarks, float), template * work)
    inv = np.linalg.inv(m)
    # Outside a small scan, fill with the photo's mean colour: a black frame would tell the
    # model which faces were small scans (FG-NET's older, younger-age photos).
    fill = tuple(int(v) for v in np.asarray(img.resize((8, 8)), dtype=np.float32).reshape(-1, 3).mean(0))
    face = img.transform((work, work), Image.AFFINE, data=tuple(inv[:2].ravel()), resample=Image.BILINEAR,
                         fillcolor=fill)
    return np.asarray(face.resize((size, size), Image.BILINEAR), dtype=np.uint8)
