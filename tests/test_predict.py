"""Age prediction on a photo: detection, cropping, every condition, and the documented messages."""
import math

import numpy as np
import pytest
from PIL import Image

from facelib.cli import main
from facelib.data.synth import compose_photo
from facelib.paths import Paths
from facelib.predict import age_group, detect_faces, predict

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
    assert [p.error for p in preds] == ["no face found", "not a readable image (UnidentifiedImageError)",
                                        "file not found"]
    assert preds[0].describe() == f"{blank}: no face found"


def test_missing_weights_say_what_to_run(tmp_path, photo):
    paths = Paths(root=tmp_path, data_root=tmp_path, cache_dir=tmp_path, weights_dir=tmp_path / "weights",
                  out_dir=tmp_path, synthetic=True)
    with pytest.raises(FileNotFoundError, match="no trained conditions.*run `facelib run` first"):
        predict(photo["path"], paths)


def test_cli_prints_one_line_per_face(trained_paths, photo, capsys, tmp_path):
    assert main(["predict", photo["path"], "--weights", str(trained_paths.weights_dir)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "face at (" in out[0] and all(c in out[0] for c in CONDS)
    assert main(["predict", str(tmp_path / "nope.png"), "--weights", str(trained_paths.weights_dir)]) == 2
    assert main(["predict", photo["path"], "--weights", str(tmp_path / "empty")]) == 1


def test_whole_image_mode_skips_detection(trained_paths, tiny_data):
    chip = next((tiny_data / "megaage_asian" / "test").glob("*.jpg"))
    preds = predict(chip, trained_paths, detect=False)
    assert len(preds) == 1 and preds[0].box == (0.0, 0.0, 178.0, 218.0)


def test_age_groups():
    assert [age_group(a) for a in (0, 9.4, 10, 59.9, 60, 95)] == ["0-9", "0-9", "10-19", "50-59", "60+", "60+"]
