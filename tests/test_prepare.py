"""The prepare cache: crops, manifest, report, identity-disjoint splits, reuse, bad files."""
import json

import numpy as np
import pytest
from PIL import Image

from facelib.data.prepare import ALIGN_TEMPLATE, FaceCache, align_face, prepare, similarity_transform


def test_report_accounts_for_every_file(tiny_cache):
    _, report = tiny_cache
    for name, rep in report["datasets"].items():
        assert rep["kept"] + sum(rep["skipped"].values()) == rep["found"], name
        assert sum(rep["splits"].values()) == rep["kept"]


def test_cache_shapes_and_manifest(tiny_cache):
    cache_dir, report = tiny_cache
    for name in ("utkface", "megaage_asian", "aihub"):
        c = FaceCache(cache_dir, name)
        assert c.images.shape == (report["datasets"][name]["kept"], 32, 32, 3)
        assert c.images.dtype == np.uint8
        assert isinstance(c.images, np.memmap)
        assert list(c.manifest["index"]) == list(range(len(c)))
        assert {"age", "gender", "identity", "device", "source", "split"} <= set(c.manifest.columns)
        assert c.images[:].std() > 10  # faces, not blank rows


def test_splits_are_identity_disjoint(tiny_cache):
    c = FaceCache(tiny_cache[0], "aihub")
    assert set(c.manifest["split"]) == {"pretext_train", "pretext_val", "finetune_train", "finetune_val"}
    assert (c.manifest.groupby("identity")["split"].nunique() == 1).all()
    u = FaceCache(tiny_cache[0], "utkface")
    assert set(u.manifest["split"]) == {"train", "val", "test"}
    m = FaceCache(tiny_cache[0], "megaage_asian")
    assert (m.manifest["split"] == m.manifest["source_split"]).all()


def test_second_prepare_reuses_the_cache(tiny_data, tmp_path):
    first = prepare(tiny_data, tmp_path, image_size=24, progress=False, datasets=("megaage_asian",))
    mtime = (tmp_path / "megaage_asian.npy").stat().st_mtime_ns
    second = prepare(tiny_data, tmp_path, image_size=24, progress=False, datasets=("megaage_asian",))
    assert not first["datasets"]["megaage_asian"]["cached"] and second["datasets"]["megaage_asian"]["cached"]
    assert (tmp_path / "megaage_asian.npy").stat().st_mtime_ns == mtime
    third = prepare(tiny_data, tmp_path, image_size=20, progress=False, datasets=("megaage_asian",))
    assert not third["datasets"]["megaage_asian"]["cached"]
    assert np.load(tmp_path / "megaage_asian.npy").shape[1:] == (20, 20, 3)


def test_similarity_alignment_puts_landmarks_on_the_template():
    rng = np.random.default_rng(0)
    src = ALIGN_TEMPLATE * 100 + 20
    a = np.deg2rad(20)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    moved = src @ rot.T * 1.7 + [40, -10]
    m = similarity_transform(moved, src)
    back = (np.c_[moved, np.ones(5)] @ m.T)[:, :2]
    np.testing.assert_allclose(back, src, atol=1e-6)
    # a white dot at the left eye lands where the template says
    img = np.zeros((300, 300, 3), np.uint8)
    x, y = moved[0].round().astype(int)
    img[y - 2:y + 3, x - 2:x + 3] = 255
    out = align_face(Image.fromarray(img), moved, 64)
    yy, xx = np.unravel_index(out[..., 0].argmax(), out.shape[:2])
    assert abs(xx - ALIGN_TEMPLATE[0, 0] * 64) <= 2 and abs(yy - ALIGN_TEMPLATE[0, 1] * 64) <= 2


def test_bad_files_are_skipped_and_counted(tmp_path):
    root = tmp_path / "data" / "megaage_asian"
    (root / "list").mkdir(parents=True)
    (root / "train").mkdir()
    (root / "test").mkdir()
    good = np.random.default_rng(0).integers(0, 255, (80, 64, 3), dtype=np.uint8)
    Image.fromarray(good).save(root / "train" / "1.jpg")
    (root / "train" / "2.jpg").write_bytes((root / "train" / "1.jpg").read_bytes())       # duplicate
    (root / "train" / "3.jpg").write_bytes(b"")                                             # zero bytes
    (root / "train" / "4.jpg").write_bytes((root / "train" / "1.jpg").read_bytes()[:200])  # truncated
    (root / "train" / "5.jpg").write_text("not an image")
    Image.fromarray(good[:8, :8]).save(root / "train" / "6.jpg")                            # too small
    names = [f"{i}.jpg" for i in range(1, 7)]
    (root / "list" / "train_name.txt").write_text("\n".join(names))
    (root / "list" / "train_age.txt").write_text("\n".join(["20"] * 6))
    (root / "list" / "test_name.txt").write_text("")
    (root / "list" / "test_age.txt").write_text("")
    report = prepare(tmp_path / "data", tmp_path / "cache", image_size=16, progress=False)
    rep = report["datasets"]["megaage_asian"]
    assert rep["found"] == 6 and rep["kept"] == 1
    assert rep["skipped"] == {"duplicate_file": 1, "empty_file": 1, "undecodable_image": 2, "face_too_small": 1}
    assert np.load(tmp_path / "cache" / "megaage_asian.npy").shape == (1, 16, 16, 3)
    saved = json.loads((tmp_path / "cache" / "report.json").read_text())
    assert saved["datasets"]["megaage_asian"]["skipped"] == rep["skipped"]


def test_missing_data_root_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="data folder not found"):
        prepare(tmp_path / "nowhere", tmp_path / "cache")


def test_missing_cache_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `facelib prepare`"):
        FaceCache(tmp_path, "aihub")


def test_an_archive_is_staged_once_and_found_by_later_notebooks(tiny_data, tmp_path):
    import shutil

    from facelib.config import get_config
    from facelib.data import ensure_data
    from facelib.paths import get_paths
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "facelib").mkdir()
    drive = tmp_path / "drive"
    drive.mkdir()
    src = tmp_path / "src" / "datasets"
    shutil.copytree(tiny_data / "megaage_asian", src / "megaage_asian")
    archive = shutil.make_archive(str(drive / "faces"), "zip", tmp_path / "src")   # top folder: datasets/
    paths = get_paths("smoke", archive, root=tmp_path)
    assert not paths.synthetic and paths.archive == drive / "faces.zip"
    data = ensure_data(paths, get_config("smoke"), progress=False)
    assert data == tmp_path / "data" / "staged" / "faces" / "datasets" and (data / "megaage_asian").is_dir()
    stamp = (tmp_path / "data" / "staged" / "faces" / ".staged.json").stat().st_mtime_ns
    later = get_paths("smoke", archive, root=tmp_path)          # a later notebook, same parameter
    assert later.data_root == data and later.cache_dir == paths.cache_dir
    ensure_data(later, get_config("smoke"), progress=False)       # nothing copied again
    assert (tmp_path / "data" / "staged" / "faces" / ".staged.json").stat().st_mtime_ns == stamp
