"""Reading one photo: bytes to upright 8-bit RGB, and one record to its face crop."""
from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import Image

from .align import crop_face
from .records import FaceRecord


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
