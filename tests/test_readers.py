"""Readers on small hand-made folders holding every documented quirk."""
import json

import numpy as np
import pytest
from PIL import Image

from facelib.data.readers import read_aihub, read_megaage, read_utkface
from facelib.data.records import DatasetLayoutError
from facelib.data.synth import AIHUB_IMAGE_DIR, AIHUB_LABEL_DIR


def _img(path, size=(64, 80)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), 128, np.uint8)).save(path)


def test_utkface_reads_aligned_and_wild_and_counts_malformed(tmp_path):
    root = tmp_path / "utkface"
    _img(root / "25_0_2_20170116174525125.jpg.chip.jpg")
    _img(root / "1_1_0_20170109142408075.jpg.chip.jpg")
    _img(root / "part1" / "70_0_1_20170110120000000.jpg")
    _img(root / "61_1_20170109142408075.jpg.chip.jpg")     # no race
    _img(root / "53__0_20170116184028385.jpg.chip.jpg")    # empty field
    _img(root / "130_0_0_20170116184028385.jpg.chip.jpg")  # beyond 116
    records, report = read_utkface(root)
    assert sorted(r.age for r in records) == [1, 25, 70]
    assert {r.aligned for r in records if r.age in (1, 25)} == {True}
    assert [r.aligned for r in records if r.age == 70] == [False]
    assert report.found == 6 and report.kept == 3
    assert report.skipped == {"malformed_name": 2, "age_out_of_range": 1}
    assert "61_1_20170109142408075.jpg.chip.jpg" in report.examples["malformed_name"]
    gender = {r.age: r.gender for r in records}
    assert gender == {1: 1, 25: 0, 70: 0}


def test_utkface_missing_folder_names_it(tmp_path):
    with pytest.raises(DatasetLayoutError, match="utkface.*folder not found"):
        read_utkface(tmp_path / "utkface")


def _megaage(tmp_path, names, ages):
    root = tmp_path / "megaage_asian"
    (root / "list").mkdir(parents=True)
    for split in ("train", "test"):
        (root / "list" / f"{split}_name.txt").write_text("".join(f"{n}\n" for n in names[split]))
        (root / "list" / f"{split}_age.txt").write_text("".join(f"{a}\n" for a in ages[split]))
    return root


def test_megaage_pairs_lines_and_skips_missing_images(tmp_path):
    root = _megaage(tmp_path, {"train": ["1.jpg", "2.jpg"], "test": ["1.jpg", "2.jpg", "3.jpg"]},
                    {"train": [20, 31], "test": [5, "x", 40]})
    for p in ("train/1.jpg", "train/2.jpg", "test/1.jpg", "test/2.jpg"):
        _img(root / p)
    records, report = read_megaage(root)
    assert [(r.source_split, r.age) for r in records] == [("train", 20), ("train", 31), ("test", 5)]
    assert report.found == 5
    assert report.skipped == {"bad_age": 1, "image_missing": 1}


def test_megaage_list_length_mismatch_names_both_files(tmp_path):
    root = _megaage(tmp_path, {"train": ["1.jpg", "2.jpg"], "test": []}, {"train": [20], "test": []})
    with pytest.raises(DatasetLayoutError, match=r"train_name.txt has 2 names but .*train_age.txt has 1"):
        read_megaage(root)


def _aihub_pair(root, stem, label=None, image=True, split="Training", pid=1, size=(200, 240)):
    s_img, s_lbl = ("TS", "TL") if split == "Training" else ("VS", "VL")
    if image:
        _img(root / split / AIHUB_IMAGE_DIR / f"{s_img}_{pid:04d}" / f"{stem}.png", size)
    if label is not None:
        p = root / split / AIHUB_LABEL_DIR / f"{s_lbl}_{pid:04d}" / f"{stem}.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(label if isinstance(label, str) else json.dumps(label, ensure_ascii=False))


def _label(stem, age, birth=1992, gender="male", box=(50, 60, 80, 90), device="film"):
    return {"filename": stem, "id": 1, "birth": birth, "age_now": 31, "age_past": age, "format": "png",
            "width": 200, "height": 240, "device": device, "gender": gender,
            "annotation": [{"box": dict(zip("xywh", box)),
                            "landmark": [[90, 110], [75, 95], [105, 95], [80, 130], [100, 130]]}]}


def test_aihub_every_quirk_is_counted(tmp_path):
    root = tmp_path / "aihub"
    ok = "0001_1992_06_00000020_M"
    _aihub_pair(root, ok, _label(ok, 6))
    _aihub_pair(root, "0001_1992_07_00000021_M")                                       # no label
    _aihub_pair(root, "0001_1992_08_00000022_M", _label("x", 8), image=False)         # no image
    _aihub_pair(root, "0001_1992_09_00000023_M", _label("x", 12))                     # age mismatch
    _aihub_pair(root, "0001_1992_40_00000024_M", _label("x", 40))                     # 2032: future
    nobox = _label("x", 10)
    nobox["annotation"] = []
    _aihub_pair(root, "0001_1992_10_00000025_M", nobox)
    _aihub_pair(root, "0001_1992_11_00000026_M", _label("x", 11, box=(300, 10, 40, 40)))  # wholly outside
    _aihub_pair(root, "0001_1992_12_00000027_M", _label("x", 12, box=(-20, 60, 80, 90)))  # partly outside
    _aihub_pair(root, "0001_1992_13_00000028_F", _label("x", 13))                      # letter F, gender male
    _aihub_pair(root, "0001_1992_14_00000029_M", "{not json")
    _aihub_pair(root, "0002_1980_30_00000030_F", _label("x", 30, birth=1980, gender="female"), split="Validation",
                pid=2)
    records, report = read_aihub(root)
    assert report.found == 11
    assert report.skipped == {"image_without_label": 1, "label_without_image": 1, "age_mismatch": 1,
                              "future_capture_year": 1, "no_box": 1, "box_outside_image": 1,
                              "unreadable_label": 1}
    assert report.notes == {"box_clipped": 1, "filename_letter_disagrees_with_gender": 1}
    assert report.kept == len(records) == 4
    by_age = {r.age: r for r in records}
    assert by_age[12].box == (0.0, 60.0, 60.0, 150.0)               # clipped to the image
    assert by_age[13].gender == 0                                   # `gender` wins over the letter
    assert by_age[30].source_split == "Validation" and by_age[30].identity == "aihub:2"
    r = by_age[6]
    assert r.year == 1998 and r.device == "film"
    # landmarks reordered from (nose, left eye, right eye, mouth l, mouth r) to eyes first
    np.testing.assert_array_equal(r.landmarks[:3], [[75, 95], [105, 95], [90, 110]])


def test_aihub_empty_folder_raises(tmp_path):
    (tmp_path / "aihub" / "Training").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match="no images or labels"):
        read_aihub(tmp_path / "aihub")


def test_aihub_same_name_in_two_folders_is_counted_not_lost(tmp_path):
    root = tmp_path / "aihub"
    stem = "0001_1992_06_00000020_M"
    _aihub_pair(root, stem, _label(stem, 6))
    _aihub_pair(root, stem, _label(stem, 6), pid=9)   # a second copy under TS_0009 / TL_0009
    records, report = read_aihub(root)
    assert len(records) == 1
    assert report.found == 3 and report.skipped == {"duplicate_name": 2}


def test_windows_made_copies(tmp_path):
    """Labels with a BOM or in CP949, Korean folder names as CP949 bytes, `.JPG`, lists with BOM and CRLF."""
    import os

    from facelib.data.prepare import prepare
    root = tmp_path / "data" / "aihub"
    stem = "0001_1992_06_00000020_M"
    _aihub_pair(root, stem, None)
    korean = os.fsdecode("원천".encode("cp949"))       # not UTF-8: arrives with surrogate escapes
    bad_dir = root / "Training" / korean / "TS_0002"
    bad_dir.mkdir(parents=True)
    Image.fromarray(np.full((240, 200, 3), 90, np.uint8)).save(bad_dir / "0002_1990_10_00000030_F.png")
    lbl_dir = root / "Training" / korean / "TL_0002"
    lbl_dir.mkdir(parents=True)
    label2 = _label("0002_1990_10_00000030_F", 10, birth=1990, gender="female")
    label2["note"] = "한국어"
    (lbl_dir / "0002_1990_10_00000030_F.json").write_bytes(json.dumps(label2, ensure_ascii=False).encode("cp949"))
    p = root / "Training" / AIHUB_LABEL_DIR / "TL_0001" / f"{stem}.json"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps(_label(stem, 6)).encode())            # UTF-8 with a BOM
    _img(root / "Training" / korean / "TS_0003" / (os.fsdecode(b"\xb0\xa1\xff") + ".png"))  # unparseable name
    records, report = read_aihub(root)
    assert sorted(r.age for r in records) == [6, 10]
    assert {r.source_split for r in records} == {"Training"}
    assert report.skipped == {"image_without_label": 1}
    utk = tmp_path / "data" / "utkface"
    _img(utk / "25_0_2_20170116174525125.JPG")
    _img(utk / "26_1_2_20170116174525126.jpg.chip.JPG")
    recs, _ = read_utkface(utk)
    assert sorted(r.age for r in recs) == [25, 26]
    mega = tmp_path / "data" / "megaage_asian"
    (mega / "list").mkdir(parents=True)
    _img(mega / "train" / "1.jpg")
    (mega / "list" / "train_name.txt").write_bytes(b"\xef\xbb\xbf1.jpg\r\n")
    (mega / "list" / "train_age.txt").write_bytes(b"\xef\xbb\xbf23\r\n")
    for f in ("test_name.txt", "test_age.txt"):
        (mega / "list" / f).write_text("")
    recs, rep = read_megaage(mega)
    assert [r.age for r in recs] == [23] and rep.skipped == {}
    # the whole prepare: byte-safe names in the fingerprint, the report and the manifest
    report = prepare(tmp_path / "data", tmp_path / "cache", image_size=16, progress=False)
    assert report["datasets"]["aihub"]["kept"] == 2
    assert "\\xb0" in json.dumps(report["datasets"]["aihub"]["examples"])


def test_pixels_of_real_copies(tmp_path):
    """16-bit PNGs scaled, RGBA composited on white, EXIF orientation applied and checked
    against the label's width and height."""
    from facelib.data.decode import decode_photo, to_rgb
    import io
    grey16 = Image.fromarray((np.full((20, 30), 32768)).astype(np.uint16))
    assert np.asarray(to_rgb(grey16)).mean() == pytest.approx(128, abs=1)       # not white
    rgba = Image.fromarray(np.dstack([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8)]), "RGBA")
    assert np.asarray(to_rgb(rgba)).min() == 255                                  # transparent → white
    # a photo stored sideways (60 wide, 40 high) with EXIF "rotate 90": upright it is 40 x 60
    img = Image.new("RGB", (60, 40), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes())
    raw = buf.getvalue()
    assert decode_photo(raw).size == (40, 60)                      # upright
    assert decode_photo(raw, (40, 60)).size == (40, 60)            # label made on the upright photo
    assert decode_photo(raw, (60, 40)).size == (60, 40)            # label made on the stored pixels
    assert decode_photo(raw, (50, 50)) is None                     # neither: skipped by prepare


def _pts(path, points):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("version: 1\nn_points: 68\n{\n" + "".join(f"{x} {y}\n" for x, y in points) + "}\n")


def test_fgnet_reads_its_own_layout_and_landmark_markup(tmp_path):
    from facelib.data.readers import FGNET_POINTS, read_fgnet
    root = tmp_path / "fgnet"
    pts = np.stack([np.arange(68) * 2.0 + 10, np.arange(68) + 20.0], 1)
    for stem in ("001A02", "001A43a", "001A43b", "078A11"):
        _img(root / "images" / f"{stem}.JPG", (120, 140))
        _pts(root / "points" / f"{stem.lower()}.pts", pts)
    _img(root / "images" / "X01A02.JPG")                    # malformed name
    _img(root / "images" / "002A05.JPG")                    # no points
    _img(root / "images" / "003A07.JPG")
    _pts(root / "points" / "003a07.pts", pts[:60])          # 60 points, not 68
    records, report = read_fgnet(root)
    assert report.found == 7 and report.kept == 4
    assert report.skipped == {"malformed_name": 1, "points_missing": 1, "bad_points": 1}
    assert sorted((r.identity, r.age) for r in records) == [("fgnet:1", 2), ("fgnet:1", 43), ("fgnet:1", 43),
                                                            ("fgnet:78", 11)]
    # eyes (pupils 31, 36), nose tip 67, mouth corners 48, 54 of FG-NET's markup, in facelib's order
    np.testing.assert_array_equal(records[0].landmarks, pts[FGNET_POINTS])
    assert FGNET_POINTS == [31, 36, 67, 48, 54]


def _aaf(root, faces, lists=("train", "val"), nested=False):
    """An AAF folder in its published layout: `faces` = {name: (eyes or None, split or None)}."""
    base = root / "All-Age-Faces Dataset" if nested else root
    for sub in ("original images", "aglined faces", "key points", "image sets"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    for name, (eyes, split) in faces.items():
        _img(base / "original images" / name, (300, 340))
        if eyes is not None:
            pts = np.tile([150.0, 200.0], (49, 1))
            pts[19:25], pts[25:31] = eyes[0], eyes[1]
            (base / "key points" / name.replace(".jpg", ".txt")).write_text(
                "".join(f"{x} {y}\n" for x, y in pts))
    for split in lists:
        (base / "image sets" / f"{split}.txt").write_text(
            "".join(f"{n} 1\n" for n, (_, s) in faces.items() if s == split))
    return root


def test_aaf_reads_ages_from_names_its_lists_as_splits_and_its_eyes_as_landmarks(tmp_path):
    from facelib.data.readers import read_aaf
    faces = {"00000A02.jpg": ([[100, 150], [180, 152]], "train"), "00001A35.jpg": ([[190, 150], [110, 150]], "val"),
             "00002A60.jpg": (None, "val"), "00003A41.jpg": ([[100, 150], [180, 150]], None),
             "0004A7.jpg": ([[100, 150], [180, 150]], "train")}
    for nested in (False, True):
        root = _aaf(tmp_path / f"aaf{nested}", faces, nested=nested)
        recs, rep = read_aaf(root)
        assert rep.found == 5 and rep.skipped == {"points_missing_or_bad": 1, "not_in_train_or_val_list": 1,
                                                  "malformed_name": 1}
        by = {r.path.name: r for r in recs}
        assert set(by) == {"00000A02.jpg", "00001A35.jpg"}
        assert (by["00000A02.jpg"].age, by["00000A02.jpg"].source_split) == (2.0, "train")
        assert (by["00001A35.jpg"].age, by["00001A35.jpg"].source_split, by["00001A35.jpg"].identity) == \
            (35.0, "val", "aaf:00001")
        assert by["00001A35.jpg"].landmarks.tolist() == [[110, 150], [190, 150]]   # image-left eye first
    with pytest.raises(DatasetLayoutError, match="key points: folder not found"):
        import shutil
        shutil.rmtree(tmp_path / "aafFalse" / "key points")
        read_aaf(tmp_path / "aafFalse")
