"""Age prediction on a photo: detection, cropping, every condition, and the documented messages."""
import math

import numpy as np
import pytest
from PIL import Image

from facelib.cli import main
from facelib.data.synth import compose_photo
from facelib.paths import Paths
from facelib.predict import age_group, detect_faces, is_face_crop, predict

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


def test_cli_prints_one_line_per_face_and_its_exit_status(trained_paths, photo, capsys, tmp_path):
    w = ["--weights", str(trained_paths.weights_dir)]
    assert main(["predict", photo["path"], *w]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "face at (" in out[0] and all(c in out[0] for c in CONDS)
    # a batch with an unreadable file still answers the others: 0 when any face was answered
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8 not really a jpeg")
    assert main(["predict", str(junk), photo["path"], str(tmp_path / "nope.png"), *w]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and "not a readable image" in lines[0] and "face at (" in lines[1]
    assert main(["predict", str(tmp_path / "nope.png"), *w]) == 1                        # no face answered
    assert main(["predict", photo["path"], "--weights", str(tmp_path / "empty")]) == 2   # usage: no weights


def test_whole_image_mode_skips_detection(trained_paths, tiny_data):
    chip = next((tiny_data / "megaage_asian" / "test").glob("*.jpg"))
    preds = predict(chip, trained_paths, detect=False)
    assert len(preds) == 1 and preds[0].box == (0.0, 0.0, 178.0, 218.0)


def test_age_groups():
    assert [age_group(a) for a in (0, 9.4, 10, 59.9, 60, 95)] == ["0-9", "0-9", "10-19", "50-59", "60+", "60+"]


def test_json_and_annotated_photos(trained_paths, photo, capsys, tmp_path):
    import json
    assert main(["predict", photo["path"], "--json", "--save-annotated", str(tmp_path / "ann"),
                 "--weights", str(trained_paths.weights_dir)]) == 0
    face = json.loads(capsys.readouterr().out.strip())
    assert face["photo"] == photo["path"] and len(face["box"]) == 4 and face["error"] is None
    assert set(face["ages"]) == set(face["groups"]) == CONDS
    assert Image.open(tmp_path / "ann" / "p.jpg").size == Image.open(photo["path"]).size


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


def test_a_face_crop_filling_its_frame_is_taken_whole(trained_paths, photo, tmp_path):
    x0, y0, x1, y1 = photo["box"]
    cx, cy, s = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * 1.1
    crop = tmp_path / "crop.png"
    Image.open(photo["path"]).crop((int(cx - s / 2), int(cy - s / 2), int(cx + s / 2), int(cy + s / 2))).save(crop)
    preds = predict(crop, trained_paths)
    assert len(preds) == 1 and preds[0].whole_image and not preds[0].error
    assert "whole image as a face crop" in preds[0].describe()
    boxes = detect_faces(np.asarray(Image.open(crop).convert("RGB")))
    assert boxes and is_face_crop(boxes[0], *Image.open(crop).size)


def test_a_large_photo_is_searched_downscaled_and_answered(trained_paths, tmp_path):
    big = compose_photo(tmp_path / "big.jpg", seed=1, age=25, canvas=(4000, 3000), face_size=1330,
                        centre=(2660, 1580))
    preds = predict(big["path"], trained_paths)
    assert not preds[0].error and not preds[0].whole_image
    (x0, y0, x1, y1), (t0, u0, t1, u1) = preds[0].box, big["box"]   # in the full photo's pixels
    assert abs((x0 + x1) / 2 - (t0 + t1) / 2) < 200 and 0.7 < (x1 - x0) / (t1 - t0) < 1.5


def test_crops_pad_where_the_box_leaves_the_image():
    from facelib.data.prepare import crop_square
    img = Image.fromarray(np.full((100, 100, 3), 200, np.uint8))
    out = np.asarray(crop_square(img, (-50, -50, 50, 50), 20))   # three quarters outside
    assert out.shape == (20, 20, 3)
    assert out[:8, :8].max() == 0 and out[12:, 12:].min() == 200    # padded black, photo where it was
