"""Property tests: arbitrary file names and JSON values never make a reader raise anything
but its documented errors, and every input is accounted for."""
import json
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from facelib.data.readers import read_aihub, read_megaage, read_utkface
from facelib.data.records import DatasetLayoutError
from facelib.data.synth import AIHUB_IMAGE_DIR, AIHUB_LABEL_DIR

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\\x00"), min_size=1, max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=20)
PNG = None


def _png():
    global PNG
    if PNG is None:
        import io
        buf = io.BytesIO()
        Image.fromarray(np.full((60, 50, 3), 90, np.uint8)).save(buf, "PNG")
        PNG = buf.getvalue()
    return PNG


@SETTINGS
@given(st.lists(names, min_size=1, max_size=8, unique=True))
def test_utkface_any_names(file_names):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "utkface"
        root.mkdir()
        for n in file_names:
            try:
                (root / (n + ".jpg")).write_bytes(b"x")
            except OSError:
                pass  # a name the file system refuses
        try:
            records, report = read_utkface(root)
        except DatasetLayoutError:
            return
        assert report.kept == len(records) and report.kept + sum(report.skipped.values()) == report.found


@SETTINGS
@given(st.lists(st.text(max_size=6).filter(lambda s: "\n" not in s and "\r" not in s), max_size=6), st.data())
def test_megaage_any_age_lines(ages, data):
    names = [f"{i}.jpg" for i in range(len(ages))]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "megaage_asian"
        (root / "list").mkdir(parents=True)
        (root / "train").mkdir()
        for n in names[: data.draw(st.integers(0, len(names)))]:
            (root / "train" / n).write_bytes(b"x")
        (root / "list" / "train_name.txt").write_text("\n".join(names))
        (root / "list" / "train_age.txt").write_text("\n".join(ages))
        (root / "list" / "test_name.txt").write_text("")
        (root / "list" / "test_age.txt").write_text("")
        try:
            records, report = read_megaage(root)
        except DatasetLayoutError:
            return
        assert all(0 <= r.age <= 130 for r in records)
        assert report.kept == len(records) and report.kept + sum(report.skipped.values()) == report.found


@SETTINGS
@given(st.dictionaries(st.sampled_from(["filename", "birth", "age_past", "age_now", "width", "height", "device",
                                         "gender", "annotation", "id"]), json_values), names)
def test_aihub_any_label_values(label, stem_suffix):
    good = {"birth": 1990, "age_past": 10, "width": 50, "height": 60, "gender": "male",
            "annotation": [{"box": {"x": 5, "y": 5, "w": 30, "h": 30}}]}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "aihub"
        img_dir = root / "Training" / AIHUB_IMAGE_DIR / "TS_0001"
        lbl_dir = root / "Training" / AIHUB_LABEL_DIR / "TL_0001"
        img_dir.mkdir(parents=True)
        lbl_dir.mkdir(parents=True)
        stems = ["0001_1990_10_00000001_M", "0001_1990_10_00000002_M" + stem_suffix[:10]]
        for stem, lab in zip(stems, ({**good, **label}, label)):
            try:
                (img_dir / f"{stem}.png").write_bytes(_png())
                (lbl_dir / f"{stem}.json").write_text(json.dumps(lab, allow_nan=True))
            except OSError:
                pass
        records, report = read_aihub(root)
        assert report.kept == len(records) and report.kept + sum(report.skipped.values()) == report.found
        for r in records:
            assert r.box[0] < r.box[2] and r.box[1] < r.box[3] and r.age >= 0
