"""The prepare cache: crops, manifest, report, identity-disjoint splits, reuse, bad files."""
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facelib.data.align import ALIGN_TEMPLATE, align_face, similarity_transform
from facelib.data.cache import FaceCache
from facelib.data.prepare import prepare


def test_report_accounts_for_every_file(tiny_cache):
    _, report = tiny_cache
    for name, rep in report["datasets"].items():
        assert rep["kept"] + sum(rep["skipped"].values()) == rep["found"], name
        assert sum(rep["splits"].values()) == rep["kept"]


def test_cache_shapes_and_manifest(tiny_cache):
    cache_dir, report = tiny_cache
    for name in ("utkface", "megaage_asian", "aaf", "aihub"):
        c = FaceCache(cache_dir, name)
        rep = report["datasets"][name]
        assert len(c) == rep["kept"]
        # one row per record read; rows of skipped records stay unused (no second copy of the cache)
        assert c.images.shape[1:] == (32, 32, 3) and rep["kept"] <= c.images.shape[0] <= rep["found"]
        assert c.images.dtype == np.uint8
        assert isinstance(c.images, np.memmap)
        idx = c.manifest["index"].to_numpy()
        assert len(set(idx)) == len(idx) and idx.max() < c.images.shape[0]
        assert {"age", "gender", "identity", "device", "source", "split", "framing"} <= set(c.manifest.columns)
        assert c.manifest["framing"].value_counts().to_dict() == rep["framing"]
        assert c.images[idx].std() > 10  # faces, not blank rows


def test_splits_are_identity_disjoint(tiny_cache):
    c = FaceCache(tiny_cache[0], "aihub")
    assert set(c.manifest["split"]) == {"pretext_train", "pretext_val", "finetune_train", "finetune_val", "heldout"}
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


def test_new_framing_constants_prepare_a_framed_dataset_again(tiny_data, tmp_path, monkeypatch):
    """MegaAge-Asian is framed by `detect`'s constants: other constants, another cache; UTKFace,
    whose chips are taken whole, keeps its own."""
    import facelib.data.detect as detect
    sets = ("megaage_asian", "utkface")
    prepare(tiny_data, tmp_path, image_size=20, progress=False, datasets=sets)
    monkeypatch.setattr(detect, "EYES_WEIGHT", detect.EYES_WEIGHT + 0.1)
    again = prepare(tiny_data, tmp_path, image_size=20, progress=False, datasets=sets)
    assert not again["datasets"]["megaage_asian"]["cached"] and again["datasets"]["utkface"]["cached"]


def test_similarity_alignment_puts_landmarks_on_the_template():
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
    Image.fromarray(good).save(root / "test" / "1.jpg")
    (root / "train" / "2.jpg").write_bytes((root / "test" / "1.jpg").read_bytes())        # a test face's copy
    (root / "train" / "3.jpg").write_bytes(b"")                                             # zero bytes
    (root / "train" / "4.jpg").write_bytes((root / "test" / "1.jpg").read_bytes()[:200])   # truncated
    (root / "train" / "5.jpg").write_text("not an image")
    Image.fromarray(good[:8, :8]).save(root / "train" / "6.jpg")                            # too small
    names = [f"{i}.jpg" for i in range(2, 7)]
    (root / "list" / "train_name.txt").write_text("\n".join(names))
    (root / "list" / "train_age.txt").write_text("\n".join(["20"] * 5))
    (root / "list" / "test_name.txt").write_text("1.jpg")
    (root / "list" / "test_age.txt").write_text("20")
    report = prepare(tmp_path / "data", tmp_path / "cache", image_size=16, progress=False)
    rep = report["datasets"]["megaage_asian"]
    assert rep["found"] == 6 and rep["kept"] == 1
    assert rep["skipped"] == {"duplicate_of_test_face": 1, "empty_file": 1, "undecodable_image": 2,
                              "face_too_small": 1}
    cache = FaceCache(tmp_path / "cache", "megaage_asian")
    assert len(cache) == 1 and cache.images[cache.manifest["index"][0]].std() > 10
    assert cache.manifest["split"].tolist() == ["test"]
    saved = json.loads((tmp_path / "cache" / "report.json").read_text())
    assert saved["datasets"]["megaage_asian"]["skipped"] == rep["skipped"]


def test_repeated_files():
    from facelib.data.prepare import repeat_rule
    ok = lambda d: ("ok", d)                       # noqa: E731
    done = [ok("a"), ok("b"), ok("a"), ok("c"), ok("b"), ("empty_file", ""), ok("c"), ok("d"), ok("b")]
    # Without published lists: the first copy of a file is kept, later ones are skipped.
    statuses, first = repeat_rule(done, [""] * 9)
    assert statuses == ["ok", "ok", "duplicate_file", "ok", "duplicate_file", "empty_file", "duplicate_file",
                        "ok", "duplicate_file"]
    # Lists kept as published: every test-list file stays (repeats share the first copy), a copy of a
    # test file in another list is skipped, repeats within another list stay.
    lists = ["train", "val", "val", "train", "train", "val", "train", "val", "val"]
    statuses, first = repeat_rule(done, lists, test_list="val")
    assert statuses == ["duplicate_of_test_face", "ok", "ok", "ok", "duplicate_of_test_face", "empty_file", "ok",
                        "ok", "ok"]
    kept = [i for i, s in enumerate(statuses) if s == "ok"]
    assert [first[i] for i in kept] == [1, 2, 3, 3, 7, 1]


def test_missing_data_root_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="data folder not found"):
        prepare(tmp_path / "nowhere", tmp_path / "cache")


def test_missing_cache_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `facelib prepare`"):
        FaceCache(tmp_path, "aihub")


def test_an_archive_is_staged_once_and_found_by_later_notebooks(tiny_data, tmp_path, monkeypatch):
    """Staged on the project's local disk, the cache under FACELIB_HOME (Drive on Colab)."""
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
    monkeypatch.setenv("FACELIB_HOME", str(drive / "home"))
    paths = get_paths("smoke", archive, root=tmp_path)
    assert not paths.synthetic and paths.archive == drive / "faces.zip"
    assert paths.cache_dir.parent == drive / "home" / "data" / "cache"
    data = ensure_data(paths, get_config("smoke"), progress=False)
    assert data == tmp_path / "data" / "staged" / "faces" / "datasets" and (data / "megaage_asian").is_dir()
    stamp = (tmp_path / "data" / "staged" / "faces" / ".staged.json").stat().st_mtime_ns
    later = get_paths("smoke", archive, root=tmp_path)          # a later notebook, same parameter
    assert later.data_root == data and later.cache_dir == paths.cache_dir
    ensure_data(later, get_config("smoke"), progress=False)       # nothing copied again
    assert (tmp_path / "data" / "staged" / "faces" / ".staged.json").stat().st_mtime_ns == stamp


def test_any_number_of_workers_gives_the_same_cache(tiny_data, tmp_path):
    one = prepare(tiny_data, tmp_path / "one", image_size=24, progress=False, workers=1, datasets=("aihub",))
    two = prepare(tiny_data, tmp_path / "two", image_size=24, progress=False, workers=2, datasets=("aihub",))
    assert one["datasets"]["aihub"]["split_hashes"] == two["datasets"]["aihub"]["split_hashes"]
    assert one["datasets"]["aihub"]["skipped"] == two["datasets"]["aihub"]["skipped"]
    assert (tmp_path / "one" / "aihub.npy").read_bytes() == (tmp_path / "two" / "aihub.npy").read_bytes()
    assert (tmp_path / "one" / "aihub.csv").read_text() == (tmp_path / "two" / "aihub.csv").read_text()



def test_a_worker_that_dies_stops_the_prepare_with_an_error_and_the_rest_continues_later(tiny_data, tmp_path,
                                                                                       monkeypatch):
    """A worker killed mid-chunk (a SIGBUS from a full disk, the OOM killer) is an error naming what
    is kept, not a prepare that waits for ever (multiprocessing.Pool's behaviour)."""
    import signal

    import sys
    P = sys.modules["facelib.data.prepare"]        # facelib.data's `prepare` is the function
    real, parent, count = P.process_record, os.getpid(), {"faces": 0}

    def dies_part_way(*a):
        if os.getpid() != parent:                          # in a worker: its 30th face kills it
            count["faces"] += 1
            if count["faces"] == 30:
                os._exit(1)
        return real(*a)
    monkeypatch.setattr(P, "process_record", dies_part_way)   # forked workers inherit it
    before = signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(TimeoutError("prepare hung")))
    signal.alarm(120)
    try:
        with pytest.raises(RuntimeError, match=r"a worker cropping faces died .* MiB are free at"):
            P.prepare(tiny_data, tmp_path / "cache", image_size=24, progress=False, workers=2, datasets=("aihub",))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, before)
    monkeypatch.setattr(P, "process_record", real)
    again = P.prepare(tiny_data, tmp_path / "cache", image_size=24, progress=False, workers=2, datasets=("aihub",))
    ref = P.prepare(tiny_data, tmp_path / "ref", image_size=24, progress=False, workers=1, datasets=("aihub",))
    assert again["datasets"]["aihub"]["split_hashes"] == ref["datasets"]["aihub"]["split_hashes"]


def test_a_disk_too_full_for_the_cache_is_a_clear_error_before_any_face_is_cropped(tiny_data, tmp_path,
                                                                                   monkeypatch):
    import errno
    import sys
    from types import SimpleNamespace
    P = sys.modules["facelib.data.prepare"]
    real = P.process_record
    calls = []
    monkeypatch.setattr(P, "process_record", lambda *a: (calls.append(a), real(*a))[1])
    records, _ = P.READERS["aihub"](tiny_data / "aihub")
    need = len(records) * 24 * 24 * 3                      # the array of every AIHub file read, at 24 px
    free = {"bytes": need + 2**20 - 1}                     # one byte short of the array and 1 MiB to spare
    monkeypatch.setattr(P.shutil, "disk_usage", lambda _: SimpleNamespace(total=10**12, used=0, free=free["bytes"]))
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "aihub.tmp.npy").write_bytes(b"left by a prepare that stopped")   # no journal: not resumable
    with pytest.raises(OSError, match=r"aihub.tmp.npy needs 0 MiB; only 1 MiB are free at"):
        P.prepare(tiny_data, cache, image_size=24, progress=False, workers=1, datasets=("aihub",))
    assert calls == [] and not (cache / "aihub.tmp.npy").exists()

    if hasattr(os, "posix_fallocate"):                     # room by the count, none when the blocks are taken
        free["bytes"] += 1
        def full(*a):
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(P.os, "posix_fallocate", full)
        with pytest.raises(OSError, match="needs 0 MiB"):
            P.prepare(tiny_data, cache, image_size=24, progress=False, workers=1, datasets=("aihub",))
        assert calls == [] and not (cache / "aihub.tmp.npy").exists()
        monkeypatch.undo()
        monkeypatch.setattr(P.shutil, "disk_usage", lambda _: SimpleNamespace(total=10**12, used=0, free=need + 2**20))
    P.prepare(tiny_data, cache, image_size=24, progress=False, workers=1, datasets=("aihub",))
    assert np.load(cache / "aihub.npy", mmap_mode="r").shape[0] == len(records)   # exactly enough room is enough


KILLED_PREPARE = """
import sys, time
import facelib.data.prepare
P = sys.modules["facelib.data.prepare"]
real = P.process_record
P.process_record = lambda *a: (time.sleep(0.02), real(*a))[1]   # slow enough to be killed part-way
P.prepare(sys.argv[1], sys.argv[2], image_size=24, progress=False, workers=2, datasets=("aihub",))
"""


def _children(pid: int) -> list[int]:
    """The processes `pid` started (Linux: from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to read its status is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the prepare's workers in Linux's /proc")
def test_a_killed_prepare_continues_and_ends_with_the_same_hashes(tiny_data, tmp_path):
    import signal
    import subprocess
    import sys
    import time
    reference = prepare(tiny_data, tmp_path / "ref", image_size=24, progress=False, datasets=("aihub",))
    cache = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_PREPARE, str(tiny_data), str(cache)],
                            stderr=subprocess.DEVNULL)
    journal, deadline = cache / "aihub.journal", time.time() + 120
    while time.time() < deadline and not (journal.exists() and len(journal.read_text().splitlines()) > 40):
        time.sleep(0.01)
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the prepare ended before it could be killed"
    assert len(workers) == 2
    deadline = time.time() + 20                        # its workers end on their own, not wait for ever
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "the killed prepare's workers are still running"
    done = len(journal.read_text().splitlines()) - 1
    found = reference["datasets"]["aihub"]["found"]
    assert 0 < done < found, "the prepare was not killed part-way"
    import io
    from contextlib import redirect_stdout
    out = io.StringIO()
    with redirect_stdout(out):
        again = prepare(tiny_data, cache, image_size=24, progress=False, datasets=("aihub",))
    assert f"resuming, {done} of " in out.getvalue()
    assert again["datasets"]["aihub"]["split_hashes"] == reference["datasets"]["aihub"]["split_hashes"]
    assert not journal.exists() and not (cache / "aihub.tmp.npy").exists()


def test_staging_extracts_in_place_and_decodes_korean_windows_names(tmp_path):
    import zipfile

    from facelib.staging import stage_archive
    name = "aihub/Training/01.원천데이터/TS_0001/a.txt"
    archive = tmp_path / "faces.zip"
    korean = name.encode("cp949")
    placeholder = b"Q" * len(korean)
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(placeholder.decode(), b"hello")
        z.writestr("utkface/1_0_0_1.jpg.chip.jpg", b"jpg")
    # as a Korean Windows zip stores it: CP949 bytes, no UTF-8 flag
    archive.write_bytes(archive.read_bytes().replace(placeholder, korean))
    root = stage_archive(archive, tmp_path / "staged", progress=False)
    assert root == tmp_path / "staged" and (root / name).read_bytes() == b"hello"
    assert not (tmp_path / "staged" / "faces.zip").exists()            # no copy of the archive
    (root / name).write_bytes(b"hello")                               # an extracted member ...
    (tmp_path / "staged" / ".staged.json").unlink()                   # ... of a cut-off extraction
    (root / "utkface" / "1_0_0_1.jpg.chip.jpg").unlink()
    stage_archive(archive, tmp_path / "staged", progress=False)
    assert (root / "utkface" / "1_0_0_1.jpg.chip.jpg").read_bytes() == b"jpg"


def test_an_archive_extracted_again_on_a_new_runtime_looks_the_same_to_prepare(tmp_path):
    """Member times are kept, so the fingerprint of the staged files (and so the cache) stays."""
    import shutil
    import zipfile

    from facelib.data.prepare import _fingerprint
    from facelib.staging import stage_archive
    archive = tmp_path / "faces.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(zipfile.ZipInfo("utkface/1_0_0_1.jpg.chip.jpg", (2021, 5, 4, 3, 2, 0)), b"jpg")
    first = stage_archive(archive, tmp_path / "a", progress=False)
    fp = _fingerprint(first, {})
    shutil.rmtree(tmp_path / "a")                                    # the runtime is recycled
    time.sleep(0.01)
    again = stage_archive(archive, tmp_path / "a", progress=False)
    assert _fingerprint(again, {}) == fp
    assert time.localtime((again / "utkface" / "1_0_0_1.jpg.chip.jpg").stat().st_mtime)[:6] == (2021, 5, 4, 3, 2, 0)


def test_near_identical_photos_are_grouped_and_different_faces_are_not():
    import io

    from facelib.data.dedup import near_duplicate_groups, same_photo_groups
    h = np.array([0b1011, 0b1010, 0xFFFF0000, 0b1011 | (1 << 40), 0xFFFF0000 ^ 0b111], dtype=np.uint64)
    assert near_duplicate_groups(h).tolist() == [0, 0, 2, 0, 2]            # within 4 bits, transitively
    rng = np.random.default_rng(0)
    from PIL import ImageFilter
    noise = Image.fromarray((rng.random((32, 32, 3)) * 255).astype(np.uint8))
    face = np.asarray(noise.filter(ImageFilter.GaussianBlur(2)))        # smooth, as a face is at this size
    buf = io.BytesIO()
    Image.fromarray(face).save(buf, "JPEG", quality=80)                  # the same photo, re-encoded
    again = np.asarray(Image.open(buf))
    other = face[::-1].copy()                                             # another face
    assert same_photo_groups([face, again, other]).tolist() == [0, 0, 2]


def test_without_megaage_the_asian_faces_of_utkface_become_the_test_split(tiny_data, tmp_path):
    import shutil
    root = tmp_path / "data"
    shutil.copytree(tiny_data / "utkface", root / "utkface")
    prepare(root, tmp_path / "cache", image_size=24, progress=False)
    m = FaceCache(tmp_path / "cache", "utkface").manifest
    held = m[m["split"] == "asian_test"]
    assert len(held) > 0 and (held["race"] == 2).all()
    assert len(held) <= 0.6 * (m["race"] == 2).sum()
    assert set(m["split"]) == {"train", "val", "test", "asian_test"}
    assert (m.groupby("identity")["split"].nunique() == 1).all()
    # with MegaAge-Asian in the data folder, UTKFace keeps all its faces for training
    prepare(tiny_data, tmp_path / "cache_mega", image_size=24, progress=False, datasets=("utkface",))
    assert "asian_test" not in set(FaceCache(tmp_path / "cache_mega", "utkface").manifest["split"])


def test_every_face_is_framed_like_the_training_faces_and_counted_by_how(tiny_cache):
    """UTKFace chips whole; AIHub and AAF from their landmarks; MegaAge-Asian's whole-head images from the
    face and eyes found in them, else the dataset's median framing: one framing for every face."""
    _, report = tiny_cache
    framing = {name: rep["framing"] for name, rep in report["datasets"].items()}
    assert framing["utkface"] == {"whole image (an aligned chip)": report["datasets"]["utkface"]["kept"]}
    assert framing["aihub"] == {"landmarks": report["datasets"]["aihub"]["kept"]}
    assert framing["aaf"] == {"landmarks": report["datasets"]["aaf"]["kept"]}
    mega = framing["megaage_asian"]
    assert set(mega) <= {"face boxes and eyes", "face boxes", "the dataset's median framing (no face found)"}
    assert mega.get("face boxes and eyes", 0) + mega.get("face boxes", 0) >= 0.8 * sum(mega.values())


def test_a_face_not_found_is_framed_by_the_datasets_median_framing(tiny_data, tmp_path, monkeypatch):
    """Where the cascades find no face in an aligned dataset's image, its pupils are where the median
    face of the same dataset has them; with no face found anywhere, the central square; both counted."""
    import shutil

    import facelib.data.detect as detect
    from facelib.data.decode import CENTRAL, FALLBACK
    root = tmp_path / "d"
    shutil.copytree(tiny_data / "megaage_asian", root / "megaage_asian")
    found = prepare(root, tmp_path / "c1", image_size=32, progress=False, workers=1)["datasets"]["megaage_asian"]
    real = detect.frame_photo
    calls = []

    def every_other(img):
        calls.append(1)
        return real(img) if len(calls) % 2 else None
    monkeypatch.setattr(detect, "frame_photo", every_other)
    half = prepare(root, tmp_path / "c2", image_size=32, progress=False, workers=1)["datasets"]["megaage_asian"]
    assert half["kept"] == found["kept"] and half["framing"][FALLBACK] >= found["kept"] // 2
    c1, c2 = FaceCache(tmp_path / "c1", "megaage_asian"), FaceCache(tmp_path / "c2", "megaage_asian")
    same = c2.manifest["framing"] != FALLBACK
    assert (c1.images[c1.manifest["index"][same]] == c2.images[c2.manifest["index"][same]]).all()
    assert np.abs(c1.images[c1.manifest["index"][~same]].astype(float)
                  - c2.images[c2.manifest["index"][~same]]).mean() < 40       # about where the face was found
    monkeypatch.setattr(detect, "frame_photo", lambda img: None)
    none = prepare(root, tmp_path / "c3", image_size=32, progress=False, workers=1)["datasets"]["megaage_asian"]
    assert none["framing"] == {CENTRAL: found["kept"]}


def test_no_test_image_sets_the_median_framing(tiny_data, tmp_path, monkeypatch):
    """Faces found only in the test list's images: the training images without a face take the central
    square, not a median framing set by test images."""
    import shutil

    import facelib.data.detect as detect
    from facelib.data.decode import CENTRAL, FALLBACK
    from facelib.data.readers import read_megaage
    root = tmp_path / "d"
    shutil.copytree(tiny_data / "megaage_asian", root / "megaage_asian")
    records, _ = read_megaage(root / "megaage_asian")
    test_ids = {id(r) for r in records if r.source_split == "test"}
    assert 0 < len(test_ids) < len(records)
    real, calls = detect.frame_photo, []

    def only_test(img):   # prepare frames the records in order with one worker
        calls.append(1)
        return real(img) if id(records[len(calls) - 1]) in test_ids else None
    monkeypatch.setattr(detect, "frame_photo", only_test)
    out = prepare(root, tmp_path / "c", image_size=32, progress=False, workers=1)["datasets"]["megaage_asian"]
    cache = FaceCache(tmp_path / "c", "megaage_asian")
    train = cache.manifest[cache.manifest["source_split"] == "train"]
    assert FALLBACK not in out["framing"] and (train["framing"] == CENTRAL).all() and len(train) > 0


def test_aafs_aligned_faces_laid_out_as_megaage_are_framed_from_the_faces_found(tiny_data, tmp_path):
    """AAF's aligned faces (the whole head and shoulders) in MegaAge-Asian's layout have no landmarks:
    prepare finds their faces, and frames them like the same faces aligned from AAF's landmarks."""
    import shutil

    from facelib.data.readers import aaf_root
    src = aaf_root(tiny_data / "aaf")
    val = [line.split()[0] for line in (src / "image sets" / "val.txt").read_text().splitlines() if line.strip()]
    mega = tmp_path / "as_megaage" / "megaage_asian"
    for d in ("train", "test", "list"):
        (mega / d).mkdir(parents=True)
    kept = [n for n in val if (src / "key points" / n.replace(".jpg", ".txt")).exists()]
    for n in kept:
        Image.open(src / "aglined faces" / n).save(mega / "test" / n)
    (mega / "list" / "test_name.txt").write_text("".join(f"{n}\n" for n in kept))
    (mega / "list" / "test_age.txt").write_text("".join(f"{int(n[6:8])}\n" for n in kept))
    for f in ("train_name.txt", "train_age.txt"):
        (mega / "list" / f).write_text("")
    rep = prepare(tmp_path / "as_megaage", tmp_path / "cm", image_size=32, progress=False, workers=1)
    assert rep["datasets"]["megaage_asian"]["kept"] == len(kept)
    shutil.copytree(tiny_data / "aaf", tmp_path / "own" / "aaf")
    prepare(tmp_path / "own", tmp_path / "ca", image_size=32, progress=False, workers=1)
    by_landmarks = FaceCache(tmp_path / "ca", "aaf").manifest.set_index("source")
    by_detection = FaceCache(tmp_path / "cm", "megaage_asian")
    a = FaceCache(tmp_path / "ca", "aaf").images
    m = by_detection.manifest
    diffs = [np.abs(a[by_landmarks.loc[f"All-Age-Faces Dataset/original images/{src_name[5:]}", "index"]].astype(float)
                    - by_detection.images[i]).mean()
             for src_name, i, how in zip(m["source"], m["index"], m["framing"]) if how.startswith("face boxes")]
    assert len(diffs) >= 0.7 * len(kept) and np.median(diffs) < 25   # the same face, framed alike


def test_aafs_lists_are_kept_as_published_and_a_test_faces_copy_leaves_training(tiny_data, tmp_path):
    """A repeat within AAF's val list stays a test face (one cluster with its first copy); a copy of a
    val face under a train-list name is left out, whichever comes first by name."""
    import shutil

    from facelib.data.readers import aaf_root
    shutil.copytree(tiny_data / "aaf", tmp_path / "d" / "aaf")
    src = aaf_root(tmp_path / "d" / "aaf")
    sets = src / "image sets"
    val = [line.split()[0] for line in (sets / "val.txt").read_text().splitlines() if line.strip()]
    face = next(n for n in val if (src / "key points" / n.replace(".jpg", ".txt")).exists())
    points = src / "key points" / face.replace(".jpg", ".txt")
    for copy, lst in (("00000A77.jpg", "train"), ("99999A66.jpg", "val")):   # before and after it by name
        shutil.copy(src / "original images" / face, src / "original images" / copy)
        shutil.copy(points, src / "key points" / copy.replace(".jpg", ".txt"))
        (sets / f"{lst}.txt").write_text((sets / f"{lst}.txt").read_text() + f"{copy} 1\n")
    before = prepare(tiny_data, tmp_path / "c0", image_size=32, progress=False, datasets=("aaf",))["datasets"]["aaf"]
    rep = prepare(tmp_path / "d", tmp_path / "c1", image_size=32, progress=False, datasets=("aaf",))["datasets"]["aaf"]
    assert rep["found"] == before["found"] + 2 and rep["kept"] == before["kept"] + 1
    assert rep["skipped"].get("duplicate_of_test_face") == 1 and "duplicate_file" not in rep["skipped"]
    m = FaceCache(tmp_path / "c1", "aaf").manifest.set_index("source")
    pair = m.loc[[f"All-Age-Faces Dataset/original images/{n}" for n in (face, "99999A66.jpg")]]
    assert pair["split"].tolist() == ["val", "val"] and pair["age"].tolist() == [float(face[6:8]), 66.0]
    assert pair["identity"].nunique() == 1
    assert rep["splits"]["val"] == before["splits"]["val"] + 1


def test_the_fallback_framing_reads_no_test_face_nor_a_copy_of_one():
    from types import SimpleNamespace

    from facelib.data.prepare import fallback_pupils
    records = [SimpleNamespace(source_split=s) for s in ("test", "train", "train", "train", "train")]
    done = {0: ("ok", "a", "face boxes", "[[1, 1], [2, 1]]"),          # a test face
            1: ("ok", "a", "face boxes", "[[1, 1], [2, 1]]"),          # its copy under a train name
            2: ("ok", "b", "face boxes", "[[3, 3], [4, 3]]"),
            3: ("ok", "c", "no face", ""),                            # nothing found in it
            4: ("empty_file", "", "", "[[9, 9], [9, 9]]")}
    assert fallback_pupils(records, done) == [[[3, 3], [4, 3]]]
    assert fallback_pupils(records, done, test_list="val") == [[[1, 1], [2, 1]]] * 2 + [[[3, 3], [4, 3]]]
