"""Age prediction on a photo: detection, cropping, every condition, and the documented messages."""
import math

import numpy as np
import pytest
from PIL import Image

from facelib.tools.cli import main
from facelib.data.synth import compose_photo
from facelib.paths import Paths
from facelib.study.metrics import age_group
from facelib.data.detect import aligned_window, detect_faces
from facelib.inference.predict import face_input, is_face_crop, predict

CONDS = {"baseline", "korean_finetuned", "vcop_downstream", "multitrain"}


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    # seed 1: a composed face that OpenCV's cascade finds (drawn faces are found ~3 times in 4)
    return compose_photo(tmp_path_factory.mktemp("photo") / "p.png", seed=1, age=25, centre=(320, 190))


def test_a_pasted_face_is_found_near_where_it_was_pasted(photo):
    boxes = detect_faces(np.asarray(Image.open(photo["path"]).convert("RGB")))
    assert len(boxes) == 1
    (x0, y0, x1, y1), (t0, u0, t1, u1) = boxes[0], photo["box"]
    assert abs((x0 + x1) / 2 - (t0 + t1) / 2) < 25 and abs((y0 + y1) / 2 - (u0 + u1) / 2) < 30
    assert 0.7 < (x1 - x0) / (t1 - t0) < 1.5


def test_every_trained_condition_predicts(trained_paths, photo):
    preds = predict(photo["path"], trained_paths)
    assert len(preds) == 1 and not preds[0].error
    assert set(preds[0].ages) == CONDS
    assert all(math.isfinite(a) for a in preds[0].ages.values())
    assert set(preds[0].groups) == CONDS


def test_no_face_bad_file_and_missing_file_give_messages(trained_paths, tmp_path):
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((200, 300, 3), 120, np.uint8)).save(blank)
    junk = tmp_path / "junk.jpg"
    junk.write_text("not an image")
    preds = predict([blank, junk, tmp_path / "missing.jpg"], trained_paths)
    assert [p.error.split(" (")[0] for p in preds] == ["no face found", "not a readable image", "file not found"]
    assert preds[0].describe().startswith(f"{blank}: no face found")
    assert "--whole-image" in preds[0].error


def test_missing_weights_say_what_to_run(tmp_path, photo):
    paths = Paths(root=tmp_path, data_root=tmp_path, cache_dir=tmp_path, weights_dir=tmp_path / "weights",
                  out_dir=tmp_path, synthetic=True)
    with pytest.raises(FileNotFoundError, match="no trained conditions.*run `facelib run` first"):
        predict(photo["path"], paths)


def test_cli_prints_its_provenance_once_then_one_line_per_face_and_its_exit_status(trained_paths, photo, capsys,
                                                                                   tmp_path):
    w = ["--weights", str(trained_paths.weights_dir)]
    assert main(["predict", photo["path"], *w]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and "trained on synthetic faces: ages are not meaningful for real photos" in out[0]
    assert "face at (" in out[1] and all(c in out[1] for c in CONDS)
    # a batch with an unreadable file still answers the others: 0 when any face was answered
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8 not really a jpeg")
    assert main(["predict", str(junk), photo["path"], str(tmp_path / "nope.png"), *w]) == 0
    lines = capsys.readouterr().out.strip().splitlines()[1:]
    assert len(lines) == 3 and "not a readable image" in lines[0] and "face at (" in lines[1]
    assert main(["predict", str(tmp_path / "nope.png"), *w]) == 1                        # no face answered
    assert main(["predict", photo["path"], "--weights", str(tmp_path / "empty")]) == 2   # usage: no weights


def test_whole_image_mode_skips_detection(trained_paths, tiny_data):
    chip = next((tiny_data / "megaage_asian" / "test").glob("*.jpg"))
    preds = predict(chip, trained_paths, detect=False)
    assert len(preds) == 1 and preds[0].box == (0.0, 0.0, 178.0, 218.0)
    assert preds[0].alignment == "whole photo (--whole-image)"


def test_a_test_photo_given_as_a_file_gets_the_age_the_evaluation_gave_it(trained_paths, tiny_data):
    """A MegaAge-Asian test photo (the whole head) given as a file is framed exactly as `prepare`
    framed it, from the face and eyes found in it: the same age. A UTKFace chip is taken whole, as
    `prepare` takes it."""
    import pandas as pd

    from facelib.data.cache import FaceCache
    from facelib.inference.models import load_models, model_age
    cache = FaceCache(trained_paths.cache_dir, "megaage_asian")
    preds = pd.read_csv(trained_paths.results_dir / "predictions" / "baseline.csv")
    framing = cache.manifest.set_index("index")["framing"]
    found = preds[preds["index"].map(framing).str.startswith("face boxes")].head(8)
    assert len(found) >= 6 and set(cache.manifest["framing"]) <= {"face boxes", "face boxes and eyes",
                                                                    "the dataset's median framing (no face found)"}
    for _, row in found.iterrows():
        got = predict(tiny_data / "megaage_asian" / row["source"], trained_paths, conditions=["baseline"])[0]
        assert not got.whole_image and abs(got.ages["baseline"] - row["pred"]) < 1e-3, got.describe()
    utk = FaceCache(trained_paths.cache_dir, "utkface")
    model, cfg = load_models(trained_paths, names=["baseline"]).models["baseline"]
    for _, row in utk.split("test").head(4).iterrows():
        got = predict(tiny_data / "utkface" / row["source"], trained_paths, conditions=["baseline"])[0]
        assert got.whole_image
        assert got.ages["baseline"] == pytest.approx(model_age(model, utk.images[row["index"]]), abs=1e-3)


def test_age_groups():
    assert [age_group(a) for a in (0, 9.4, 10, 59.9, 60, 69.9, 70, 95)] == \
        ["0-9", "0-9", "10-19", "50-59", "60-69", "60-69", "70+", "70+"]


def test_json_and_annotated_photos_with_the_same_name_in_two_folders(trained_paths, photo, capsys, tmp_path):
    import json
    import shutil
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        shutil.copy(photo["path"], tmp_path / d / "x.png")
    assert main(["predict", str(tmp_path / "a" / "x.png"), str(tmp_path / "b" / "x.png"), "--json",
                 "--save-annotated", str(tmp_path / "ann"), "--weights", str(trained_paths.weights_dir)]) == 0
    captured = capsys.readouterr()
    faces = [json.loads(line) for line in captured.out.strip().splitlines()]
    assert "synthetic faces" in captured.err                             # provenance kept out of the JSON
    assert [f["photo"] for f in faces] == [str(tmp_path / "a" / "x.png"), str(tmp_path / "b" / "x.png")]
    assert all(len(f["box"]) == 4 and f["error"] is None and f["alignment"] in ("face boxes and eyes", "face boxes") for f in faces)
    assert set(faces[0]["ages"]) == set(faces[0]["groups"]) == CONDS
    assert sorted(p.name for p in (tmp_path / "ann").iterdir()) == ["x-2.jpg", "x.jpg"]
    assert Image.open(tmp_path / "ann" / "x.jpg").size == Image.open(photo["path"]).size


def _copy_weights(trained_paths, dest):
    import shutil
    shutil.copytree(trained_paths.weights_dir, dest / "seed0", ignore=shutil.ignore_patterns("runs"))
    return dest


def test_unusable_weights_give_one_line_and_their_own_exit_status(trained_paths, photo, capsys, tmp_path):
    w = _copy_weights(trained_paths, tmp_path / "w")
    (w / "seed0" / "multitrain.pt").write_bytes(b"not a checkpoint at all")
    assert main(["predict", photo["path"], "--weights", str(w)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "multitrain.pt: checkpoint cannot be read" in err[0] and "Traceback" not in err[0]
    # weights of another architecture under a condition's name
    import shutil
    shutil.copy(w / "seed0" / "vcop.pt", w / "seed0" / "multitrain.pt")
    assert main(["predict", photo["path"], "--weights", str(w)]) == 3
    assert "not weights of a facelib multitrain model" in capsys.readouterr().err


def test_conditions_trained_on_different_data_are_refused(trained_paths, photo, capsys, tmp_path):
    import torch
    w = _copy_weights(trained_paths, tmp_path / "w")
    ckpt = torch.load(w / "seed0" / "baseline.pt", weights_only=False)
    torch.save({**ckpt, "data": "real", "data_id": "public-0123abcd"}, w / "seed0" / "baseline.pt")
    assert main(["predict", photo["path"], "--weights", str(w)]) == 3
    assert "were trained on different data" in capsys.readouterr().err


def test_one_seed_answers_and_a_seed_folder_wins_over_loose_weights(trained_paths, photo, tmp_path):
    import shutil

    from facelib.inference.models import load_models
    w = _copy_weights(trained_paths, tmp_path / "w")
    shutil.copytree(w / "seed0", w / "seed3")
    shutil.copy(w / "seed0" / "vcop.pt", w / "baseline.pt")          # a stray file at the top: never read
    paths = Paths(root=tmp_path, data_root=tmp_path, cache_dir=tmp_path, weights_dir=w, out_dir=tmp_path,
                  synthetic=True)
    assert load_models(paths).seed == 0 and load_models(paths, seed=3).weights_dir == w / "seed3"
    with pytest.raises(FileNotFoundError, match="no weights of seed 7"):
        load_models(paths, seed=7)


def test_a_photo_too_small_for_a_face_says_so(trained_paths, tmp_path):
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.full((10, 12, 3), 90, np.uint8)).save(tiny)
    for detect in (True, False):
        p = predict(tiny, trained_paths, detect=detect)[0]
        assert p.error.startswith("too small for a face (12 × 10 pixels") and not p.ages


def test_alignment_puts_the_pupils_on_the_template(photo):
    from facelib.data.align import ALIGN_TEMPLATE
    img = Image.open(photo["path"]).convert("RGB")
    eyes = np.array(photo["eyes"])
    face = face_input(img, 64, eyes)
    assert face.shape == (64, 64, 3)
    # the window the alignment crops holds both pupils at the template's place
    x0, y0, x1, y1 = aligned_window(eyes)
    side = x1 - x0
    got = (eyes - np.array([x0, y0])) / side
    assert got == pytest.approx(ALIGN_TEMPLATE[:2], abs=0.02)


def _exif_sideways(src, dest):
    """`src` stored turned 90 degrees counter-clockwise, with the EXIF tag (6) that turns it upright again."""
    img = Image.open(src).convert("RGB").transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(dest, "JPEG", quality=95, exif=exif.tobytes())
    return dest


def test_a_sideways_photo_is_turned_upright_by_its_exif_tag(trained_paths, photo, tmp_path):
    side = _exif_sideways(photo["path"], tmp_path / "side.jpg")
    assert Image.open(side).size == (360, 480)                     # stored sideways
    preds = predict(side, trained_paths)
    assert len(preds) == 1 and not preds[0].error
    (x0, y0, x1, y1), (t0, u0, t1, u1) = preds[0].box, photo["box"]  # where the upright photo shows it
    assert abs((x0 + x1) / 2 - (t0 + t1) / 2) < 25 and abs((y0 + y1) / 2 - (u0 + u1) / 2) < 30


def test_a_face_crop_framed_like_the_training_faces_is_taken_whole(trained_paths, photo, tmp_path):
    window = aligned_window(np.array(photo["eyes"]))
    crop = tmp_path / "crop.png"
    Image.open(photo["path"]).crop(tuple(int(round(v)) for v in window)).save(crop)
    assert not is_face_crop(window, 480, 360) and is_face_crop((0, 0, 100, 100), 100, 104)
    preds = predict(crop, trained_paths)
    assert len(preds) == 1 and preds[0].whole_image and not preds[0].error
    assert "whole photo" in preds[0].describe()


def test_a_large_photo_is_searched_downscaled_and_answered(trained_paths, tmp_path):
    big = compose_photo(tmp_path / "big.jpg", seed=1, age=25, canvas=(4000, 3000), face_size=1330,
                        centre=(2660, 1580))
    preds = predict(big["path"], trained_paths)
    assert not preds[0].error and not preds[0].whole_image
    (x0, _, x1, _), (t0, _, t1, _) = preds[0].box, big["box"]   # in the full photo's pixels
    assert abs((x0 + x1) / 2 - (t0 + t1) / 2) < 200 and 0.7 < (x1 - x0) / (t1 - t0) < 1.5


def test_crops_pad_where_the_box_leaves_the_image():
    from facelib.data.align import crop_square
    img = Image.fromarray(np.full((100, 100, 3), 200, np.uint8))
    out = np.asarray(crop_square(img, (-50, -50, 50, 50), 20))   # three quarters outside
    assert out.shape == (20, 20, 3)
    assert out[:8, :8].max() == 0 and out[12:, 12:].min() == 200    # padded black, photo where it was


def test_check_predict_gives_chips_as_files_the_evaluations_age_and_counts_every_case(trained_paths, tmp_path):
    import json

    from facelib.config import get_config
    from facelib.inference.check import check, write
    result = check(trained_paths, get_config("smoke"), "baseline", faces=4, progress=False)
    later = check(trained_paths, get_config("smoke"), "baseline", faces=4, start=4, progress=False)
    test_set = next(k for k in result["faces_used"] if k != "fgnet")
    first, second = result["faces_used"][test_set], later["faces_used"][test_set]
    assert len(first) == len(second) == 4 and not set(first) & set(second)   # --start: faces not used before
    assert check(trained_paths, get_config("smoke"), "baseline", faces=8, progress=False)["faces_used"][test_set] \
        == first + second                                                    # one fixed order
    alone = check(trained_paths, get_config("smoke"), "baseline", faces=4, progress=False, files_only=True)
    assert alone["cases"] == result["cases"][:1] and alone["faces_used"]["fgnet"] == []
    cases = {c["case"]: c for c in result["cases"]}
    assert all(c["faces"] == 4 and 0 <= c["answered"] <= 1 for c in cases.values())
    # MegaAge-style test photos: predict finds and frames each face as prepare did (the few prepare
    # framed by the dataset's median framing, no face being found, may differ)
    files = cases["test photos given as files"]
    assert files["answered"] == 1.0 and float(files["same_age"].rstrip("%")) >= 75 and files["median_distance"] < 1e-3
    assert all(c["median_distance_95"][0] <= c["median_distance"] <= c["median_distance_95"][1]
               for c in cases.values() if c["answered"])
    assert result["data"] == "synthetic" and result["condition"] == "baseline"
    out = write(result, tmp_path / "pc.json")
    assert json.loads(out.read_text())["cases"] == json.loads(json.dumps(result["cases"]))


def test_check_predict_command_records_its_commit_and_time_for_publishing(trained_paths, tmp_path, monkeypatch):
    import json

    import facelib.study.notebook
    import facelib.study.provenance
    from facelib.config import get_config
    from facelib.reporting import tables
    monkeypatch.setattr(facelib.study.notebook, "setup", lambda *a, **k: (get_config("smoke"), trained_paths))
    seen = []
    monkeypatch.setattr(facelib.study.provenance, "git_commit",
                        lambda root: seen.append(root) or {"commit": "0123456789abcdef", "dirty": True})
    out = tmp_path / "pc.json"
    assert main(["check-predict", "--faces", "2", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert seen == [trained_paths.root] and result["git"] == {"commit": "0123456789abcdef", "dirty": True}
    assert isinstance(result["wall_seconds"], int) and result["wall_seconds"] >= 0
    record = json.loads(tables.publish_check(tmp_path, "pc", out, "facelib check-predict --faces 2").read_text())
    assert record["cases"] == result["cases"] and record["wall_seconds"] == result["wall_seconds"]
    assert record["commits"] == ["0123456 (with uncommitted changes)"]


def test_fit_measures_the_framing_on_faces_no_test_holds(trained_paths, tmp_path, capsys, monkeypatch):
    import json

    import facelib.study.notebook
    from facelib.config import get_config
    from facelib.data.cache import FaceCache
    from facelib.data.detect import BOX_WINDOW, CASCADES
    from facelib.data.splits import assign_splits
    from facelib.inference.check import EYES_WEIGHTS
    monkeypatch.setattr(facelib.study.notebook, "setup", lambda *a, **k: (get_config("smoke"), trained_paths))
    out = tmp_path / "fit.json"
    assert main(["check-predict", "--fit", "--faces", "6", "--json", str(out)]) == 0
    assert "fitted on 6 UTKFace training chips and " in capsys.readouterr().out
    fit = json.loads(out.read_text())
    assert fit["faces"] == 6 and 0 < fit["answered"] <= 1
    assert set(fit["box_window"]) <= set(CASCADES) and fit["box_window"]
    for name, (fx, fy, fs) in fit["box_window"].items():   # the face's square about where real chips put it
        ref = BOX_WINDOW[name]
        assert abs(fx - ref[0]) < 0.15 and abs(fy - ref[1]) < 0.2 and 0.7 < fs / ref[2] < 1.4
    assert [float(w) for w in fit["framing_error"]] == list(EYES_WEIGHTS)
    assert fit["eyes_weight"] in EYES_WEIGHTS and 0 < fit["framing_error"][str(fit["eyes_weight"])] < 30
    manifest = FaceCache(trained_paths.cache_dir, "utkface").manifest
    split_of = dict(zip(manifest["source"], manifest["split"]))
    assert len(fit["chips"]) == 6 and {split_of[c] for c in fit["chips"]} == {"train"}   # never a test face
    held_out = dict(zip(manifest["source"], assign_splits("utkface", manifest, 0, asian_test=True)))
    assert {held_out[c] for c in fit["chips"]} == {"train"}   # nor one of the setting with UTKFace's Asian hold-out
    aaf = FaceCache(trained_paths.cache_dir, "aaf").manifest   # AAF's originals: its train list only
    aaf_split = dict(zip(aaf["source"], aaf["split"]))
    assert fit["aaf_faces"] == len(fit["aaf_used"]) == min(12, int((aaf["split"] == "train").sum())) > 0
    assert {aaf_split[s] for s in fit["aaf_used"]} == {"train"}
    assert {s: r["photos"] for s, r in fit["sources"].items()} == {
        "UTKFace training chips in larger photos": 12, "AAF train-list original images": fit["aaf_faces"]}
    assert fit["photos"] == 12 + fit["aaf_faces"]


def test_the_framing_fit_pools_its_sources_and_reports_each():
    """Two sources whose true squares lie differently in the same boxes: the fitted square lies
    between them, and each source's error is its own distance from it."""
    from facelib.data.detect import CASCADES, box_window
    from facelib.inference.check import EYES_WEIGHTS, fit_from
    found = []
    for k in range(20):
        x, y = 50 + 7 * k, 40 + 3 * k
        dets = [_det(c, (x, y, x + 100, y + 100)) for c in CASCADES]
        for source, side in (("a", 100.0), ("b", 90.0)):
            found.append((source, np.array([x + 50.0, y + 60.0, side]), dets))
    fit = fit_from(found)
    for fx, fy, fs in fit["box_window"].values():
        assert (fx, fy) == (0.5, 0.6) and fs == 0.95
    assert {s: r["photos"] for s, r in fit["sources"].items()} == {"a": 20, "b": 20}
    assert fit["answered"] == 1.0 and list(fit["framing_error"]) == [float(w) for w in EYES_WEIGHTS]
    a, b = (fit["sources"][s]["framing_error"][0.0] for s in ("a", "b"))
    assert abs(a - 5.0) < 0.01 and abs(b - 100 * (95 / 90 - 1)) < 0.01   # the square's side off by 5% / 5.6%
    pooled = fit["framing_error"][0.0]
    assert abs(pooled - np.sqrt((a ** 2 + b ** 2) / 2)) < 0.01
    assert fit["box_window_kept"] == []
    # the constants in use frame every photo at the median of the cascades' squares (no eyes here)
    win = np.median([box_window((0, 0, 100, 100), c) for c in CASCADES], 0)
    for source, side in (("a", 100.0), ("b", 90.0)):
        err = np.r_[(win[:2] - [50, 60]) / side, win[2] / side - 1] * 100
        assert abs(fit["sources"][source]["current_error"] - np.linalg.norm(err)) < 0.01


def test_the_framing_fit_picks_the_eyes_weight_by_the_pooled_error():
    """Photos of source c (no eyes found) pin the boxes' square to the boxes' own place. Source a's
    true square is that place, source b's the one its eyes imply: a prefers the boxes alone, b the
    eyes alone, and the weight kept is the one of least pooled error (halfway). Each weight's pooled
    error is the photos' root mean square, and the constants in use are scored as predict frames
    with them. A cascade with no box on a face keeps its value in use."""
    from facelib.data.detect import BOX_WINDOW, CASCADES, EYES_WEIGHT, eyes_window, group_faces
    from facelib.inference.check import EYES_WEIGHTS, fit_from
    eyes = [(25, 30, 12, 12), (63, 30, 12, 12)]   # pupils (31, 36) and (69, 36) of a 100 px box at 0, 0
    found = []
    for k in range(10):
        x, y = 40 + 9 * k, 30 + 4 * k
        dets = [_det(c, (x, y, x + 100, y + 100), [(ex + x, ey + y, w, h) for ex, ey, w, h in eyes])
                for c in CASCADES[:2]]
        found.append(("a", np.array([x + 50.0, y + 60.0, 100.0]), dets))
        found.append(("b", eyes_window(np.array([[x + 31.0, y + 36.0], [x + 69.0, y + 36.0]])), dets))
        found += [("c", np.array([x + 50.0, y + 60.0, 100.0]), [_det(c, (x, y, x + 100, y + 100)) for c in CASCADES[:2]])] * 3
    fit = fit_from(found)
    errors = {s: fit["sources"][s]["framing_error"] for s in "abc"}
    assert min(errors["a"], key=errors["a"].get) == 0.0 and min(errors["b"], key=errors["b"].get) == 1.0
    assert set(errors["c"].values()) == {0.0}
    for w in EYES_WEIGHTS:   # 10, 10 and 30 photos
        want = np.sqrt((10 * errors["a"][w] ** 2 + 10 * errors["b"][w] ** 2) / 50)
        assert abs(fit["framing_error"][float(w)] - want) < 0.02
    assert fit["eyes_weight"] == min(fit["framing_error"], key=fit["framing_error"].get) == 0.5
    assert fit["box_window_kept"] == [CASCADES[2]] and fit["box_window"][CASCADES[2]] == BOX_WINDOW[CASCADES[2]]
    face = group_faces(found[0][2], BOX_WINDOW, EYES_WEIGHT)[0]
    for source, true, _ in found[:2]:
        err = np.r_[(face.window[:2] - true[:2]) / true[2], face.window[2] / true[2] - 1] * 100
        assert abs(fit["sources"][source]["current_error"] - np.linalg.norm(err)) < 0.01


def _det(cascade, box, eye_boxes=()):
    from facelib.data.detect import Detection
    return Detection(cascade, box, 1.0, list(eye_boxes))


def test_boxes_of_two_cascades_make_one_face_and_a_lone_box_of_one_cascade_is_dropped():
    from facelib.data.detect import BOX_WINDOW, CASCADES, group_faces
    face = [_det(CASCADES[0], (100, 100, 200, 200)), _det(CASCADES[1], (102, 98, 202, 198))]
    stray = [_det(CASCADES[0], (400, 300, 440, 340)), _det(CASCADES[0], (401, 301, 441, 341))]  # one cascade, twice
    faces = group_faces(face + stray)
    assert len(faces) == 1 and faces[0].support == 2 and faces[0].eyes is None
    cx, cy, side = faces[0].window
    fx, fy, fs = BOX_WINDOW[CASCADES[0]]
    assert abs(cx - (100 + 100 * fx)) < 3 and abs(cy - (100 + 100 * fy)) < 3 and abs(side - 100 * fs) < 3
    alone = group_faces(stray)            # nothing better: the face most boxes found is kept
    assert len(alone) == 1 and alone[0].boxes == 2 and alone[0].support == 1
    assert group_faces([]) == []


def test_eyes_pull_the_framing_and_set_the_slant():
    from facelib.data.align import ALIGN_TEMPLATE
    from facelib.data.detect import CASCADES, Face, eyes_window, group_faces, window_pupils
    box = (100, 100, 200, 200)
    plain = group_faces([_det(CASCADES[0], box)] * 2)[0]
    # eye boxes 10 px right of where the framing puts the pupils
    prior = window_pupils(plain.window)
    eye_boxes = [(x + 10 - 6, y - 6, 12, 12) for x, y in prior]
    with_eyes = group_faces([_det(CASCADES[0], box, eye_boxes)])
    assert len(with_eyes) == 1 and with_eyes[0].eyes is not None          # kept on its eyes alone
    for weight in (0.0, 0.5, 1.0):
        f = group_faces([_det(CASCADES[0], box, eye_boxes)], eyes_weight=weight)[0]
        expect = (1 - weight) * plain.window + weight * eyes_window(f.eyes)
        assert f.window == pytest.approx(expect)
    # slanted eyes: the aligned-from points share their slant and centre; level eyes give the template's
    window = np.array([150.0, 160.0, 100.0])
    slanted = Face((0, 0, 1, 1), window, np.array([[120.0, 140.0], [160.0, 150.0]]), 2)
    p = slanted.pupils
    assert (p[1, 1] - p[0, 1]) / (p[1, 0] - p[0, 0]) == pytest.approx(10 / 40)
    gap = ALIGN_TEMPLATE[1, 0] - ALIGN_TEMPLATE[0, 0]
    assert np.linalg.norm(p[1] - p[0]) == pytest.approx(gap * 100)                    # turned, not scaled
    assert np.linalg.norm(p.mean(0) - window[:2]) == pytest.approx(np.linalg.norm(ALIGN_TEMPLATE[:2].mean(0) - 0.5) * 100)
    level = Face((0, 0, 1, 1), window, np.array([[120.0, 140.0], [160.0, 140.0]]), 2)
    assert level.pupils == pytest.approx(window_pupils(window))


def test_a_square_chip_sized_photo_is_taken_whole_and_a_megaage_style_photo_is_framed_from_its_face(
        trained_paths, tmp_path):
    """A square photo of a chip's size is taken whole whatever is found in it (a small face, its eyes
    found); a MegaAge-style photo (178 x 218, the whole head) is framed from its face, as `prepare`
    frames MegaAge-Asian."""
    from facelib.data.detect import iou as _iou, locate_faces, square as _square
    small = compose_photo(tmp_path / "small.png", seed=2, age=25, canvas=(300, 300), face_size=110, centre=(150, 150))
    faces = locate_faces(np.asarray(Image.open(small["path"]).convert("RGB")))
    assert faces and faces[0].eyes is not None and _iou(_square(faces[0].window), (0, 0, 300, 300)) < 0.4
    preds = predict(small["path"], trained_paths)
    assert len(preds) == 1 and preds[0].alignment == "whole photo (the photo is a face crop)"
    head = compose_photo(tmp_path / "head.png", seed=2, age=25, canvas=(178, 218), face_size=150, centre=(89, 120))
    assert locate_faces(np.asarray(Image.open(head["path"]).convert("RGB")))
    preds = predict(head["path"], trained_paths)
    assert len(preds) == 1 and preds[0].alignment.startswith("face boxes") and not preds[0].whole_image


def test_the_median_distance_gets_an_interval_over_faces():
    from facelib.inference.check import _median_interval
    assert _median_interval(np.full(50, 1.5)) == [1.5, 1.5]
    d = np.random.default_rng(1).exponential(1.5, 400)
    lo, hi = _median_interval(d)
    # the median of an exponential sample of 400 moves by about ±0.1 here: the interval says so
    assert lo < np.median(d) < hi and 0.1 < hi - lo < 0.5 and lo > 0.5
    assert np.isnan(_median_interval(np.array([np.nan]))).all()
