"""Synthetic faces written in the published layouts of UTKFace, MegaAge-Asian, AAF and AIHub.

The faces are drawn, not sampled from a generative model, so the age signal is
known and controllable:

- identity traits fixed across one person's photos: face shape, skin tone, eye
  spacing and size, nose, mouth, hair colour and style, brow thickness;
- age changes geometry (a child's large cranium, low eyes and round face grow
  into adult proportions), skin (forehead lines, crow's feet, nasolabial folds,
  jowls and age spots that appear and deepen), hair (greying from a per-person
  onset, receding hairline for some men), eyes and lips (thinning with age);
- each person's adult ageing runs at their own rate; labels carry a little noise;
- nuisance variation independent of age: pose, scale, position, lighting,
  blur, noise, background;
- two populations: `diverse` (UTKFace-like) and `asian` (MegaAge/AIHub), with
  different trait distributions and a slower apparent ageing for `asian`.

Every image is drawn from its own RNG seeded by (seed, dataset, index), so the
output is deterministic for a seed whatever the number of worker processes.
"""
from __future__ import annotations

import json
import math
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from tqdm.auto import tqdm

from .align import align_face, similarity_transform
from .prepare import exit_with_parent

AIHUB_IMAGE_DIR = "01.원천데이터"
AIHUB_LABEL_DIR = "02.라벨링데이터"
AIHUB_REFERENCE_YEAR = 2023  # the year AIHub's `age_now` refers to

_DATASET_IDS = {"utkface": 1, "megaage_asian": 2, "aihub": 3, "aaf": 4}
# Where the pupils lie in an aligned image of the datasets that publish a looser framing than UTKFace's
# chips, as fractions of its width and height: MegaAge-Asian (178 x 218, the CelebA style: the whole
# head) and AAF's aligned faces (head and shoulders). `prepare` must find these faces to frame them.
MEGAAGE_SIZE, MEGAAGE_EYES = (178, 218), ((0.39, 0.51), (0.61, 0.51))
AAF_ALIGNED_EYES = ((0.40, 0.42), (0.60, 0.42))

# Skin palettes (RGB). `diverse` spans light to dark; `asian` is narrower and warmer.
_SKIN = {
    "diverse": [(246, 214, 190), (234, 192, 160), (205, 160, 120), (170, 120, 85),
                (125, 85, 60), (92, 62, 45)],
    "asian": [(245, 218, 190), (236, 204, 170), (224, 188, 150), (210, 172, 135)],
}
_HAIR = {
    "diverse": [((30, 22, 18), 0.35), ((70, 45, 28), 0.25), ((120, 85, 50), 0.15),
                ((200, 170, 110), 0.15), ((150, 70, 35), 0.10)],
    "asian": [((22, 18, 16), 0.75), ((45, 32, 25), 0.20), ((80, 55, 35), 0.05)],
}
# UTKFace race codes: 0 white, 1 black, 2 asian, 3 indian, 4 others.
_RACE_SKIN = {0: [0, 1], 1: [4, 5], 2: [0, 1, 2], 3: [2, 3], 4: [1, 2, 3]}


@dataclass
class Person:
    """Traits fixed for one person across all their photos."""
    population: str
    gender: int           # 0 male, 1 female
    skin: np.ndarray      # RGB float
    hair: np.ndarray
    hair_style: int       # 0 short, 1 long, 2 bob
    receding: bool
    elong: float          # face height / width multiplier
    eye_gap: float
    eye_size: float
    eye_open: float       # eye height / width (narrower for `asian`)
    nose_len: float
    mouth_w: float
    brow: float
    grey_onset: float     # age at which greying starts
    rate: float           # apparent adult ageing speed
    growth: float         # childhood growth timing
    lip: np.ndarray


def sample_person(rng: np.random.Generator, population: str, race: int | None = None) -> Person:
    asian = population == "asian"
    gender = int(rng.integers(0, 2))
    if race is None or asian:
        skin = np.array(_SKIN[population][rng.integers(len(_SKIN[population]))], float)
    else:
        skin = np.array(_SKIN["diverse"][rng.choice(_RACE_SKIN[race])], float)
    skin = np.clip(skin + rng.normal(0, 6, 3), 0, 255)
    colours, weights = zip(*_HAIR[population])
    if race in (1, 3):
        colours, weights = zip(*_HAIR["asian"])  # dark hair dominates these groups too
    hair = np.array(colours[rng.choice(len(colours), p=np.array(weights) / sum(weights))], float)
    return Person(
        population=population, gender=gender, skin=skin, hair=hair,
        hair_style=int(rng.choice(3, p=[0.7, 0.1, 0.2] if gender == 0 else [0.15, 0.55, 0.3])),
        receding=bool(gender == 0 and rng.random() < 0.45),
        elong=float(rng.normal(0.96 if asian else 1.0, 0.04)),
        eye_gap=float(rng.normal(0.38, 0.025)),
        eye_size=float(rng.normal(1.0, 0.08)),
        eye_open=float(rng.normal(0.42 if asian else 0.55, 0.05)),
        nose_len=float(rng.normal(1.0, 0.08)),
        mouth_w=float(rng.normal(1.0, 0.08)),
        brow=float(rng.uniform(0.6, 1.4)),
        grey_onset=float(rng.normal(44 if asian else 40, 7)),
        rate=float(np.clip(rng.normal(0.9 if asian else 1.0, 0.1), 0.6, 1.3)),
        growth=float(np.clip(rng.normal(1.0, 0.08), 0.8, 1.2)),
        lip=np.array([180, 90, 90], float) if gender == 1 else skin * np.array([0.85, 0.7, 0.7]),
    )


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _rgb(c, a=255):
    c = np.clip(c, 0, 255)
    return (int(c[0]), int(c[1]), int(c[2]), a)


def render_face(p: Person, age: float, rng: np.random.Generator, size: int):
    """Draw one face on a transparent square layer.

    Returns (RGBA image, landmarks (5, 2) as left eye, right eye, nose, left
    mouth corner, right mouth corner, face box (x0, y0, x1, y1)), in layer pixels.
    """
    s = size
    g = _smoothstep(age * p.growth / 18.0)                 # childhood growth, 0 → 1
    adult = max(0.0, 18.0 + (age - 18.0) * p.rate) if age > 18 else age
    w = float(np.clip((adult - 22.0) / 45.0, 0, 1))        # skin ageing, 0 → 1
    old = float(np.clip((adult - 45.0) / 35.0, 0, 1))       # sagging, thinning hair, spots
    yaw = rng.normal(0, 0.06)                               # features shift sideways

    cx, cy = s * 0.5, s * 0.5
    hw = s * (0.27 + 0.03 * g)
    hh = hw * (1.0 + 0.28 * g) * p.elong
    jowl = 0.9 + 0.25 * old
    # Features are alpha-blended onto an RGB layer; the silhouette (head, ears,
    # opaque hair) goes into a separate mask, since drawing with alpha onto an
    # RGBA image would replace pixels instead of blending.
    img = Image.new("RGB", (s, s), (0, 0, 0))
    mask = Image.new("L", (s, s), 0)
    d = ImageDraw.Draw(img, "RGBA")
    dm = ImageDraw.Draw(mask)

    def solid(shape, xy, fill, opaque=True, **kw):
        getattr(d, shape)(xy, fill=fill, **kw)
        if opaque:
            getattr(dm, shape)(xy, fill=255, **kw)

    # Skin dulls, greys and yellows with age.
    skin = p.skin * (1 - 0.12 * w) + np.array([8, 4, -6]) * w
    skin = skin * (1 - 0.15 * w) + skin.mean() * 0.15 * w
    hair_amount = min(1.0, age / 3.0 + 0.15) * (1 - 0.45 * old)
    grey = float(np.clip((adult - p.grey_onset) / 20.0, 0, 1))
    hair = p.hair * (1 - grey) + np.array([205, 205, 200]) * grey
    hair_a = int(255 * hair_amount)

    # Long hair behind the head.
    if p.hair_style == 1 and age > 3:
        solid("rounded_rectangle", [cx - hw * 1.15, cy - hh * 1.05, cx + hw * 1.15, cy + hh * 1.1],
              _rgb(hair * 0.9, hair_a), hair_a == 255, radius=int(hw * 0.6))
    # Ears, then the face: the lower face widens slightly in old age (jowls).
    for sx in (-1, 1):
        solid("ellipse", [cx + sx * hw * 0.95 - hw * 0.13, cy - hh * 0.05, cx + sx * hw * 0.95 + hw * 0.13,
                          cy + hh * 0.28], _rgb(skin * 0.95))
    solid("ellipse", [cx - hw, cy - hh, cx + hw, cy + hh], _rgb(skin))
    solid("ellipse", [cx - hw * jowl, cy + hh * 0.1, cx + hw * jowl, cy + hh * (0.98 + 0.03 * old)],
          _rgb(skin))
    if p.gender == 0:  # squarer jaw
        solid("rounded_rectangle", [cx - hw * 0.72, cy + hh * 0.35, cx + hw * 0.72, cy + hh * 0.97],
              _rgb(skin), radius=int(hw * 0.35))

    eye_y = cy + hh * 0.22 * (1 - g) - hh * 0.02
    ex = hw * p.eye_gap * (2.0 - 0.6 * g) / 1.4
    fx = cx + yaw * hw
    eye_r = hw * (0.16 - 0.05 * g) * p.eye_size
    eye_h = eye_r * p.eye_open * (1 - 0.3 * old)
    nose_y = eye_y + hh * (0.26 + 0.12 * g) * p.nose_len * (1 + 0.05 * old)
    mouth_y = nose_y + hh * (0.17 + 0.07 * g)
    mouth_w = hw * (0.28 + 0.12 * g) * p.mouth_w
    line_w = max(1, int(round(s / 110)))

    # Hair on top: a cap whose lower edge (hairline) recedes for some older men.
    hairline = cy - hh * (0.55 - 0.25 * (p.receding * float(np.clip((adult - 28) / 30, 0, 1))))
    if hair_amount > 0:
        top = cy - hh * 1.08
        solid("chord", [cx - hw * 1.06, top, cx + hw * 1.06, hairline + (hairline - top) * 0.9],
              _rgb(hair, hair_a), hair_a == 255, start=180, end=360)
        if p.hair_style == 2 and age > 3:
            for sx in (-1, 1):
                solid("rectangle", [cx + sx * hw * 0.98 - hw * 0.12, cy - hh * 0.5,
                                    cx + sx * hw * 0.98 + hw * 0.12, cy + hh * 0.3], _rgb(hair * 0.95))

    dark = skin * (0.78 - 0.18 * w)
    # Lines thicken with age, in proportion to the face, so they survive downscaling.
    lw = max(1, int(round(line_w * (1.0 + 2.5 * w))))
    # Forehead lines: appear in the late 20s, deepen and multiply with age.
    n_lines = int(round(w * 4 + 0.2))
    for i in range(n_lines):
        y = eye_y - hh * (0.28 + 0.1 * i)
        if y > hairline + hh * 0.05:
            d.arc([fx - hw * 0.5, y - hh * 0.05, fx + hw * 0.5, y + hh * 0.08], 200, 340,
                  fill=_rgb(dark, int(140 + 115 * w)), width=lw)
    # Baby and child cheeks.
    if g < 0.8:
        blush = _rgb(skin * np.array([1.02, 0.86, 0.86]), int(120 * (1 - g)))
        for sx in (-1, 1):
            d.ellipse([fx + sx * ex - hw * 0.18, nose_y - hh * 0.06, fx + sx * ex + hw * 0.18,
                       nose_y + hh * 0.14], fill=blush)

    eyes = []
    for sx in (-1, 1):
        x = fx + sx * ex
        eyes.append((x, eye_y))
        # shaded eye sockets: the dark-eyes / bright-cheeks pattern of a real face
        d.ellipse([x - eye_r * 1.7, eye_y - eye_r * 1.25, x + eye_r * 1.7, eye_y + eye_r * 1.05],
                  fill=_rgb(skin * 0.72, 150))
        # brows
        by = eye_y - eye_r * (1.5 + 0.2 * g) + hh * 0.02 * old
        d.line([x - eye_r * 1.2, by + sx * 0, x + eye_r * 1.2, by - eye_r * 0.15],
               fill=_rgb(p.hair * (1 - grey) + 170 * grey, int(255 * min(1, 0.3 + age / 10))),
               width=max(1, int(round(line_w * 1.6 * p.brow))))
        d.ellipse([x - eye_r, eye_y - eye_h, x + eye_r, eye_y + eye_h], fill=(250, 250, 250, 255))
        ir = min(eye_h, eye_r * 0.55) * 0.95
        d.ellipse([x - ir, eye_y - ir, x + ir, eye_y + ir], fill=(45, 35, 30, 255))
        # under-eye bags and crow's feet
        if w > 0.15:
            d.arc([x - eye_r, eye_y - eye_h * 0.2, x + eye_r, eye_y + eye_h * 2.4], 20, 160,
                  fill=_rgb(dark, int(200 * w)), width=lw)
            ox = x + sx * eye_r * 1.15
            for k in (-1, 0, 1):
                d.line([ox, eye_y + k * eye_h * 0.5, ox + sx * eye_r * (0.5 + 0.4 * w),
                        eye_y + k * eye_h * 1.1], fill=_rgb(dark, int(230 * w)), width=lw)
        if old > 0:  # droopy upper lids
            d.chord([x - eye_r * 1.05, eye_y - eye_h * 1.3, x + eye_r * 1.05, eye_y + eye_h * 0.4],
                    180, 360, fill=_rgb(skin * 0.96, int(255 * min(1, old * 1.5))))

    # Nose and nasolabial folds.
    d.line([fx, eye_y + eye_r * 0.5, fx + hw * 0.05, nose_y], fill=_rgb(skin * 0.85), width=line_w)
    d.ellipse([fx - hw * 0.11, nose_y - hh * 0.035, fx + hw * 0.11, nose_y + hh * 0.035],
              fill=_rgb(skin * 0.8))
    if w > 0.05:
        for sx in (-1, 1):
            d.arc([fx + sx * hw * 0.1 - hw * 0.25, nose_y - hh * 0.02, fx + sx * hw * 0.1 + hw * 0.25,
                   mouth_y + hh * 0.14], 90 - sx * 70 - 25, 90 - sx * 70 + 25,
                  fill=_rgb(dark, int(240 * w)), width=lw + 1)
    # Mouth: lips thin with age.
    lip_h = hh * (0.05 - 0.03 * w)
    d.ellipse([fx - mouth_w / 2, mouth_y - lip_h, fx + mouth_w / 2, mouth_y + lip_h], fill=_rgb(p.lip))
    d.line([fx - mouth_w / 2, mouth_y, fx + mouth_w / 2, mouth_y], fill=_rgb(p.lip * 0.6), width=line_w)
    # Stubble for adult men.
    if p.gender == 0 and age > 16 and p.hair_style != 1:
        d.chord([cx - hw * 0.8, mouth_y - hh * 0.25, cx + hw * 0.8, cy + hh * 0.99], 0, 180,
                fill=_rgb(p.hair * (1 - grey) + 150 * grey, int(50 * min(1, (age - 16) / 6))))
    # Age spots.
    if old > 0:
        for _ in range(int(old * 8)):
            r = hw * rng.uniform(0.02, 0.045)
            x = cx + rng.uniform(-0.7, 0.7) * hw
            y = cy + rng.uniform(-0.6, 0.6) * hh
            d.ellipse([x - r, y - r, x + r, y + r], fill=_rgb(skin * 0.72, 150))

    lms = np.array([eyes[0], eyes[1], (fx, nose_y),
                    (fx - mouth_w / 2, mouth_y), (fx + mouth_w / 2, mouth_y)], float)
    box = (cx - hw, eye_y - hh * 0.55, cx + hw, cy + hh)
    img.putalpha(mask)
    return img, lms, box


def _background(rng, w, h):
    c1 = rng.uniform(30, 230, 3)
    c2 = np.clip(c1 + rng.normal(0, 50, 3), 0, 255)
    t = np.linspace(0, 1, h)[:, None, None] if rng.random() < 0.5 else np.linspace(0, 1, w)[None, :, None]
    bg = c1 * (1 - t) + c2 * t
    bg = np.broadcast_to(bg, (h, w, 3)).copy()
    bg += rng.normal(0, rng.uniform(0, 8), (h, w, 1))
    return Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8), "RGB")


def _photo(p: Person, age: float, rng, canvas, face_size, centre, film=False):
    """Render and compose one photo; returns (RGB image, landmarks, box) in canvas pixels."""
    layer, lms, box = render_face(p, age, rng, face_size)
    angle = rng.normal(0, 7)
    layer = layer.rotate(angle, resample=Image.BICUBIC, center=(face_size / 2, face_size / 2))
    img = _background(rng, *canvas)
    ox, oy = int(round(centre[0] - face_size / 2)), int(round(centre[1] - face_size / 2))
    img.paste(layer, (ox, oy), layer)
    # PIL rotates counter-clockwise on screen; map the layer points the same way.
    a = math.radians(angle)
    rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    c = np.array([face_size / 2, face_size / 2])
    lms = (lms - c) @ rot.T + c + (ox, oy)
    corners = np.array([[box[0], box[1]], [box[2], box[1]], [box[0], box[3]], [box[2], box[3]]])
    corners = (corners - c) @ rot.T + c + (ox, oy)
    box = (*corners.min(0), *corners.max(0))

    arr = np.asarray(img, np.float32)
    # Lighting: global gain, a directional gradient, contrast.
    h, w = arr.shape[:2]
    gx, gy = rng.normal(0, 0.15, 2)
    ramp = 1 + gx * np.linspace(-1, 1, w)[None, :, None] + gy * np.linspace(-1, 1, h)[:, None, None]
    arr = arr * rng.uniform(0.75, 1.2) * ramp
    arr = (arr - 128) * rng.uniform(0.8, 1.15) + 128
    if film:  # faded, warm, grainy prints
        grey = arr.mean(axis=2, keepdims=True)
        sepia = grey * np.array([1.07, 0.95, 0.78])
        arr = 0.55 * arr + 0.45 * sepia
        arr = (arr - 128) * 0.8 + 140
        arr += rng.normal(0, 7, arr.shape[:2])[..., None]
    arr += rng.normal(0, rng.uniform(0, 5), arr.shape)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    blur = rng.uniform(0, 1.0) * face_size / 120
    if blur > 0.3:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    return img, lms, box


# ---------------------------------------------------------------- age distributions

def _utk_age(rng):
    u = rng.random()
    if u < 0.12:
        return rng.uniform(1, 6)
    if u < 0.25:
        return rng.uniform(6, 20)
    if u < 0.80:
        return float(np.clip(rng.normal(32, 10), 18, 60))
    return rng.uniform(55, 95)


def _megaage_age(rng):
    u = rng.random()
    if u < 0.15:
        return rng.uniform(1, 15)
    if u < 0.85:
        return float(np.clip(rng.normal(28, 9), 15, 50))
    return rng.uniform(45, 70)


def _noisy_label(rng, age):
    return int(max(0, round(age + rng.normal(0, 1.0))))


# ---------------------------------------------------------------- writers

def _rng(seed, dataset, *idx):
    return np.random.default_rng([seed, _DATASET_IDS[dataset], *idx])


def _aligned_chip(p: Person, age: float, rng, size: int) -> Image.Image:
    """An aligned and cropped chip, as UTKFace and MegaAge-Asian publish them: a photo aligned on
    its landmarks, with a little alignment noise, onto the template `prepare` aligns AIHub and
    FG-NET faces to (measured on real UTKFace chips), so that every dataset is framed alike."""
    # The aligned window (eyes 0.39 of its side apart) spans about 0.6-0.75 of the face layer: a canvas
    # 1.5 times the chip holds it with room for pose and position, at a quarter of the pixels of 2x.
    canvas = int(1.5 * size)
    img, lms, _ = _photo(p, age, rng, (canvas, canvas), int(size * rng.uniform(0.9, 1.1)),
                         (canvas / 2 + rng.normal(0, 3), canvas / 2 + rng.normal(0, 3)))
    iod = np.linalg.norm(lms[1] - lms[0])
    return Image.fromarray(align_face(img, lms + rng.normal(0, 0.03 * iod, lms.shape), size))


def _utk_one(args):
    root, seed, i, quirk = args
    rng = _rng(seed, "utkface", i)
    race = int(rng.choice(5, p=[0.42, 0.19, 0.15, 0.17, 0.07]))
    p = sample_person(rng, "asian" if race == 2 else "diverse", race)
    age = _utk_age(rng)
    img = _aligned_chip(p, age, rng, 200)
    stamp = f"2017{(i % 12) + 1:02d}{(i % 28) + 1:02d}{i:09d}"
    label = _noisy_label(rng, age)
    if quirk == "no_race":
        name = f"{label}_{p.gender}_{stamp}.jpg.chip.jpg"
    elif quirk == "empty_field":
        name = f"{label}__{p.gender}_{stamp}.jpg.chip.jpg"
    else:
        name = f"{label}_{p.gender}_{race}_{stamp}.jpg.chip.jpg"
    img.save(root / name, quality=90)


def _aligned_view(img: Image.Image, eyes: np.ndarray, size, eyes_at, rng) -> Image.Image:
    """`img` turned and scaled so that its pupils `eyes` land at `eyes_at` (fractions of `size`, with a
    little alignment noise): an aligned image in a dataset's own, looser framing."""
    w, h = size
    dst = np.array(eyes_at, float) * (w, h) + rng.normal(0, 0.01 * w, (2, 2))
    inv = np.linalg.inv(similarity_transform(np.asarray(eyes, float), dst))
    fill = tuple(int(v) for v in np.asarray(img.resize((8, 8)), np.float32).reshape(-1, 3).mean(0))
    return img.transform((w, h), Image.AFFINE, data=tuple(inv[:2].ravel()), resample=Image.BILINEAR, fillcolor=fill)


def _megaage_one(args):
    root, seed, split, i = args
    rng = _rng(seed, "megaage_asian", 0 if split == "train" else 1, i)
    p = sample_person(rng, "asian")
    age = _megaage_age(rng)
    # 178 x 218 in the CelebA style, as MegaAge-Asian publishes them: the whole head, eyes above the middle.
    fs = int(rng.uniform(150, 170))
    img, lms, _ = _photo(p, age, rng, (260, 300), fs, (130 + rng.normal(0, 4), 150 + rng.normal(0, 4)))
    _aligned_view(img, lms[:2], MEGAAGE_SIZE, MEGAAGE_EYES, rng).save(root / split / f"{i + 1}.jpg", quality=90)
    return _noisy_label(rng, age)


def _aaf_one(args):
    """One AAF face: `original images/%05dA%02d.jpg`, its 49 landmarks (only the eyes' rows 19-30 are
    drawn from the face; the rest follow its nose and mouth) and its head-and-shoulders aligned copy."""
    root, seed, i, quirk = args
    rng = _rng(seed, "aaf", i)
    p = sample_person(rng, "asian")
    age = int(np.clip(round(_megaage_age(rng) + rng.normal(0, 8)), 2, 80))
    cw, ch = int(rng.uniform(296, 310)), int(rng.uniform(336, 346))
    fs = int(rng.uniform(250, 290))
    img, lms, _ = _photo(p, age, rng, (cw, ch), fs, (cw / 2 + rng.normal(0, 6), ch * 0.48 + rng.normal(0, 6)))
    name = f"{i:05d}A{age:02d}"
    img.save(root / "original images" / f"{name}.jpg", quality=90)
    _aligned_view(img, lms[:2], (309, 398), AAF_ALIGNED_EYES, rng).save(root / "aglined faces" / f"{name}.jpg",
                                                                       quality=90)
    if quirk != "no_points":
        (root / "key points" / f"{name}.txt").write_text("".join(f"{x:.4f} {y:.4f}\n" for x, y in _aaf_points(lms)))
    return f"{name}.jpg"


def _aaf_points(lms: np.ndarray) -> np.ndarray:
    """49 points in AAF's order from the 5 drawn landmarks: brows 0-9, nose 10-18, eyes 19-24 and
    25-30 (six points around each pupil), mouth 31-48."""
    (le, re, nose, ml, mr) = lms
    iod = np.linalg.norm(re - le)
    ring = np.array([[-0.16, 0], [-0.08, -0.05], [0.08, -0.05], [0.16, 0], [0.08, 0.05], [-0.08, 0.05]]) * iod
    brows = np.concatenate([le + np.linspace(-0.25, 0.2, 5)[:, None] * [iod, 0] + [0, -0.3 * iod],
                            re + np.linspace(-0.2, 0.25, 5)[:, None] * [iod, 0] + [0, -0.3 * iod]])
    nose_pts = np.array([nose + [0, -k * 0.12 * iod] for k in (3, 2, 1, 0)]
                        + [nose + [dx * iod, 0.08 * iod] for dx in (-0.15, -0.08, 0, 0.08, 0.15)])
    mouth = np.concatenate([ml + t * (mr - ml) + [0, -0.05 * iod * np.sin(np.pi * t)] for t in np.linspace(0, 1, 18)])
    return np.concatenate([brows, nose_pts, le + ring, re + ring, mouth.reshape(-1, 2)])


def _aihub_person(args):
    root, seed, pid, n_photos, quirks = args
    rng = _rng(seed, "aihub", pid)
    p = sample_person(rng, "asian")
    age_now = int(np.clip(rng.normal(42, 15), 18, 82))
    birth = AIHUB_REFERENCE_YEAR - age_now
    ages = np.sort(rng.integers(0, age_now + 1, n_photos))
    split = "Validation" if pid % 8 == 0 else "Training"
    s_img, s_lbl = ("VS", "VL") if split == "Validation" else ("TS", "TL")
    img_dir = root / split / AIHUB_IMAGE_DIR / f"{s_img}_{pid:04d}"
    lbl_dir = root / split / AIHUB_LABEL_DIR / f"{s_lbl}_{pid:04d}"
    img_dir.mkdir(parents=True, exist_ok=True)
    lbl_dir.mkdir(parents=True, exist_ok=True)
    letter_ok = "F" if p.gender == 1 else "M"
    for k, age in enumerate(ages):
        r = _rng(seed, "aihub", pid, k)
        year = birth + int(age)
        # Film gives way to digital around 2000-2008, as in the real set.
        film = r.random() < 1 / (1 + math.exp((year - 2003) / 2.0))
        cw, ch = 192, 240
        fs = int(r.uniform(110, 150))
        centre = (r.uniform(fs * 0.5, cw - fs * 0.5), r.uniform(fs * 0.5, ch - fs * 0.5))
        img, lms, box = _photo(p, float(age) + r.uniform(0, 0.9), r, (cw, ch), fs, centre, film=film)
        quirk = quirks.get(k)
        age_in_name = int(age)
        stem = f"{pid:04d}_{birth}_{age_in_name:02d}_{pid * 1000 + k:08d}_" + (
            ("M" if letter_ok == "F" else "F") if quirk == "letter_mismatch" else letter_ok)
        label = {
            "filename": stem, "id": pid, "birth": birth, "age_now": age_now,
            "age_past": int(age), "format": "png", "width": cw, "height": ch,
            "device": "film" if film else "digital",
            "gender": "female" if p.gender == 1 else "male",
            "annotation": [{"box": {"x": box[0], "y": box[1], "w": box[2] - box[0], "h": box[3] - box[1]},
                            "landmark": [list(lms[2]), list(lms[0]), list(lms[1]), list(lms[3]), list(lms[4])]}],
        }
        if quirk == "age_mismatch":
            label["age_past"] = int(age) + 7
        elif quirk == "future_year":
            label["age_past"] = age_now + 5
            stem = stem.replace(f"_{age_in_name:02d}_", f"_{age_now + 5:02d}_", 1)
            label["filename"] = stem
        elif quirk == "no_box":
            label["annotation"] = []
        elif quirk == "box_outside":
            label["annotation"][0]["box"] = {"x": cw + 20.0, "y": 10.0, "w": 50.0, "h": 60.0}
        elif quirk == "box_partial":
            b = label["annotation"][0]["box"]
            b["x"] = -0.2 * b["w"]
        if quirk != "label_only":
            img.save(img_dir / f"{stem}.png", compress_level=1)
        if quirk != "image_only":
            (lbl_dir / f"{stem}.json").write_text(json.dumps(label, ensure_ascii=False))
    return n_photos


AIHUB_QUIRKS = ("image_only", "label_only", "age_mismatch", "future_year", "no_box",
                "box_outside", "box_partial", "letter_mismatch")


AAF_QUIRKS = {2: "no_points", 5: "unlisted"}


def synthesize(out: str | os.PathLike, sizes, seed: int = 0, workers: int | None = None,
               progress: bool = True) -> dict:
    """Write `out/utkface`, `out/megaage_asian`, `out/aaf` and `out/aihub` in their published layouts.

    sizes: a `SynthConfig` (how many faces per dataset; `quirks` adds malformed records).
    Returns counts of files written per dataset. Existing dataset folders are replaced.
    """

    out = Path(out)
    for name in ("utkface", "megaage_asian", "aaf", "aihub"):
        if (out / name).exists():
            shutil.rmtree(out / name)
    utk = out / "utkface"
    utk.mkdir(parents=True)
    mega = out / "megaage_asian"
    for sub in ("train", "test", "list"):
        (mega / sub).mkdir(parents=True)
    aihub = out / "aihub"
    aaf = out / "aaf" / "All-Age-Faces Dataset"
    for sub in ("original images", "aglined faces", "key points", "image sets"):
        (aaf / sub).mkdir(parents=True)

    utk_quirks = {}
    person_quirks: dict[int, dict[int, str]] = {}
    if sizes.quirks:
        utk_quirks = {3: "no_race", 7: "empty_field"}
        # Spread AIHub quirks over the first people, one photo each.
        for j, q in enumerate(AIHUB_QUIRKS):
            person_quirks.setdefault(1 + j % max(1, sizes.aihub_people), {})[5 + j] = q

    jobs = [("utk", (utk, seed, i, utk_quirks.get(i))) for i in range(sizes.utk_faces)]
    jobs += [("mega", (mega, seed, "train", i)) for i in range(sizes.megaage_train)]
    jobs += [("mega", (mega, seed, "test", i)) for i in range(sizes.megaage_test)]
    jobs += [("aaf", (aaf, seed, i, AAF_QUIRKS.get(i) if sizes.quirks else None)) for i in range(sizes.aaf_faces)]
    jobs += [("aihub", (aihub, seed, pid, sizes.aihub_photos_per_person, person_quirks.get(pid, {})))
             for pid in range(1, sizes.aihub_people + 1)]
    workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    results = []
    bar = tqdm(total=len(jobs), desc="synth", disable=not progress)
    if workers > 1:
        # An executor, not a Pool: a worker that dies raises BrokenProcessPool instead of a hang.
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn" if os.name == "nt" else "fork"),
                                 initializer=exit_with_parent, initargs=(os.getpid(),)) as pool:
            for r in pool.map(_run_job, jobs, chunksize=8):
                results.append(r)
                bar.update()
    else:
        for job in jobs:
            results.append(_run_job(job))
            bar.update()
    bar.close()

    ages = {"train": [], "test": []}
    for (kind, args), r in zip(jobs, results):
        if kind == "mega":
            ages[args[2]].append(r)
    for split in ("train", "test"):
        n = len(ages[split])
        (mega / "list" / f"{split}_name.txt").write_text("".join(f"{i + 1}.jpg\n" for i in range(n)))
        (mega / "list" / f"{split}_age.txt").write_text("".join(f"{a}\n" for a in ages[split]))
    # AAF's lists: even image indices in train.txt, odd in val.txt, with a 0/1 second column (not an age).
    names = {args[2]: r for (kind, args), r in zip(jobs, results) if kind == "aaf" and args[3] != "unlisted"}
    for split, parity in (("train", 0), ("val", 1)):
        (aaf / "image sets" / f"{split}.txt").write_text(
            "".join(f"{n} {i % 3 % 2}\n" for i, n in sorted(names.items()) if i % 2 == parity))
    return {"utkface": sizes.utk_faces, "megaage_asian": sizes.megaage_train + sizes.megaage_test,
            "aaf": sizes.aaf_faces, "aihub": sizes.aihub_people * sizes.aihub_photos_per_person}


def _run_job(job):
    kind, args = job
    return {"utk": _utk_one, "mega": _megaage_one, "aaf": _aaf_one, "aihub": _aihub_person}[kind](args)


def compose_photo(path, seed: int = 0, age: float = 35, population: str = "asian", canvas=(480, 360),
                  face_size: int = 160, centre=(320, 190)) -> dict:
    """Write one photo: a generated face pasted at `centre` into a larger background.

    Returns {"path", "age", "box", "eyes"} with the true face box (x0, y0, x1, y1) and pupils. For trying
    `facelib predict` and for its tests; drawn faces are found by OpenCV's cascades
    less reliably than real ones.
    """
    rng = np.random.default_rng([seed, 9])
    p = sample_person(rng, population)
    img, lms, box = _photo(p, age, rng, canvas, face_size, centre)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return {"path": str(path), "age": age, "box": tuple(float(v) for v in box), "eyes": lms[:2].tolist()}
