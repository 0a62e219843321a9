"""Reading one photo: bytes to upright 8-bit RGB, and one record to its face crop."""
from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import Image, ImageOps

from . import detect
from .align import ALIGN_TEMPLATE, MIN_FACE_PIXELS, align_face, crop_face
from .records import FaceRecord

# How a face was framed (counted per dataset in prepare's report).
LANDMARKS, BOX, WHOLE = "landmarks", "face box", "whole image (an aligned chip)"
NO_FACE = "no face found"        # held back by `process_record`; `prepare` frames it with FALLBACK
FALLBACK = "the dataset's median framing (no face found)"
CENTRAL = "central square (no face found in any image of the dataset)"


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


def process_record(rec: FaceRecord, size: int, margin: float) -> tuple[str, str, np.ndarray | None, str, list | None]:
    """(status, md5 of the file, face crop, how it was framed, the pupils it was aligned from as
    fractions of the photo's width and height): status "ok" or the reason the record is skipped.

    A record whose own framing is not the training faces' (`find_face`) is framed from the face and
    eyes found in it; where none is found it comes back "ok" with no crop and `NO_FACE`, for
    `prepare` to frame by the dataset's median framing (`frame_with`)."""
    try:
        raw = rec.path.read_bytes()
    except OSError:
        return "unreadable_file", "", None, "", None
    if not raw:
        return "empty_file", "", None, "", None
    digest = hashlib.md5(raw).hexdigest()
    try:
        img = decode_photo(raw, rec.label_size)
    except Exception:  # PIL raises many types for truncated or non-image bytes
        return "undecodable_image", digest, None, "", None
    if img is None:
        return "image_size_mismatch", digest, None, "", None
    if rec.find_face and rec.landmarks is None:
        if min(img.size) < MIN_FACE_PIXELS:
            return "face_too_small", digest, None, "", None
        framing = detect.frame_photo(img)
        if framing is None:
            return "ok", digest, None, NO_FACE, None
        face = align_face(img, framing.pupils, size, ALIGN_TEMPLATE[:2])
        rel = (framing.pupils / np.array(img.size, float)).round(5).tolist()
        return ("ok", digest, face, framing.how, rel) if face is not None else ("face_too_small", digest, None, "", None)
    face = crop_face(img, rec, size, margin)
    if face is None:
        return "face_too_small", digest, None, "", None
    how = LANDMARKS if rec.landmarks is not None else WHOLE if rec.aligned or rec.box is None else BOX
    return "ok", digest, face, how, None


def frame_with(rec: FaceRecord, size: int, rel_pupils) -> tuple[np.ndarray | None, str]:
    """The face of a record no face was found in: aligned from `rel_pupils` (the dataset's median
    pupils, as fractions of the photo's width and height), or, with None, its central square."""
    img = decode_photo(rec.path.read_bytes(), rec.label_size)
    if rel_pupils is None:
        return crop_face(img, FaceRecord(path=rec.path, age=rec.age, identity="", aligned=True), size, 0.0), CENTRAL
    pupils = np.asarray(rel_pupils, float) * np.array(img.size, float)
    return align_face(img, pupils, size, ALIGN_TEMPLATE[:2]), FALLBACK
