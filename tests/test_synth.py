"""The generator: deterministic, readable by the real-layout readers, with a real age signal."""
import hashlib

import numpy as np

from facelib.config import SynthConfig
from facelib.data.cache import FaceCache, ridge_signal_check
from facelib.data.prepare import prepare
from facelib.data.readers import read_aaf, read_aihub, read_megaage, read_utkface
from facelib.data.synth import AIHUB_QUIRKS, sample_person, render_face, synthesize

from .conftest import TINY


def _digest(root):
    h = hashlib.sha1()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_whatever_the_workers(tmp_path, tiny_data):
    small = SynthConfig(utk_faces=12, megaage_train=4, megaage_test=4, aihub_people=3, aihub_photos_per_person=12)
    synthesize(tmp_path / "a", small, seed=3, workers=1, progress=False)
    synthesize(tmp_path / "b", small, seed=3, workers=2, progress=False)
    synthesize(tmp_path / "c", small, seed=4, workers=1, progress=False)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_round_trip_through_the_readers(tiny_data):
    utk, rep = read_utkface(tiny_data / "utkface")
    assert rep.found == TINY.utk_faces and rep.skipped == {"malformed_name": 2}
    mega, rep = read_megaage(tiny_data / "megaage_asian")
    assert len(mega) == TINY.megaage_train + TINY.megaage_test and rep.kept == rep.found
    aihub, rep = read_aihub(tiny_data / "aihub")
    photos = TINY.aihub_people * TINY.aihub_photos_per_person
    # one quirk each; image_only and label_only each remove one file of a pair
    assert rep.found == photos
    assert sum(rep.skipped.values()) == 6 and rep.notes == {"box_clipped": 1,
                                                           "filename_letter_disagrees_with_gender": 1}
    assert len(aihub) == photos - 6
    assert {r.device for r in aihub} == {"film", "digital"}
    per_person = {}
    for r in aihub:
        per_person.setdefault(r.identity, []).append(r.age)
    assert len(per_person) == TINY.aihub_people
    assert all(min(a) <= 15 for a in per_person.values())  # photos from childhood on
    assert len(AIHUB_QUIRKS) == 8
    aaf, rep = read_aaf(tiny_data / "aaf")       # inside its own `All-Age-Faces Dataset/` folder, as published
    assert rep.found == TINY.aaf_faces and rep.skipped == {"points_missing_or_bad": 1, "not_in_train_or_val_list": 1}
    assert {r.source_split for r in aaf} == {"train", "val"} and all(r.identity.startswith("aaf:") for r in aaf)
    assert all(2 <= r.age <= 80 and r.landmarks.shape == (2, 2) and r.landmarks[0, 0] < r.landmarks[1, 0] for r in aaf)


def test_film_photos_are_older_captures(tiny_data):
    aihub, _ = read_aihub(tiny_data / "aihub")
    film = np.mean([r.year for r in aihub if r.device == "film"])
    digital = np.mean([r.year for r in aihub if r.device == "digital"])
    assert film < digital - 5


def test_age_cues_change_with_age():
    rng = np.random.default_rng(0)
    p = sample_person(rng, "asian")
    p.hair = np.array([25.0, 20.0, 18.0])   # dark hair, so greying shows as lightening
    faces = {age: render_face(p, age, np.random.default_rng(1), 200) for age in (2, 30, 75)}
    # childhood: the eyes sit lower on the face
    assert faces[2][1][0, 1] > faces[30][1][0, 1] + 5

    def lum(age):
        return np.asarray(faces[age][0], float)[..., :3].mean(-1)

    def forehead_texture(age):
        (lx, ly), (rx, _) = faces[age][1][:2]
        return lum(age)[int(ly) - 35:int(ly) - 12, int(lx):int(rx)].std()

    def hair_lightness(age):
        top = int(faces[age][2][1])  # box top: the hairline region starts above it
        return lum(age)[max(0, top - 25):top - 5, 80:120].mean()

    assert forehead_texture(75) > 2 * forehead_texture(2)      # forehead lines
    assert hair_lightness(75) > hair_lightness(30) + 40        # greying


def test_age_signal_is_real_but_not_trivial(tmp_path):
    """Ridge on 16x16 grey pixels beats the mean predictor clearly yet stays far from zero error."""
    sizes = SynthConfig(utk_faces=500, megaage_train=0, megaage_test=0, aihub_people=0, quirks=False)
    synthesize(tmp_path / "d", sizes, seed=1, workers=2, progress=False)
    prepare(tmp_path / "d", tmp_path / "c", image_size=32, progress=False, datasets=("utkface",))
    s = ridge_signal_check(FaceCache(tmp_path / "c", "utkface"))
    assert s["ridge_mae"] < 0.8 * s["mean_mae"]
    assert s["ridge_mae"] > 3.0
