"""Photos with each face's box, eyes and ages drawn on them (`facelib predict --save-annotated`, the
upload widget)."""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .predict import FacePrediction, load_photo


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
