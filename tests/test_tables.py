"""The README's and docs' tables come from the committed result files, and nothing else."""
import json
from pathlib import Path

import pytest

from facelib.reporting import tables

ROOT = Path(__file__).resolve().parents[1]


def test_every_published_table_matches_its_result_file():
    stale = tables.drift(ROOT)
    assert not stale, f"tables differ from docs/results: {stale}; run `facelib report --markdown`"


def test_every_marked_table_names_a_result_that_exists_and_a_known_kind():
    for doc in tables.documents(ROOT):
        for m in tables.MARKER.finditer(doc.read_text()):
            assert (tables.results_dir(ROOT) / f"{m.group(2)}.json").exists(), f"{doc.name}: {m.group(2)}"
            assert m.group(3) in tables.KINDS


def _summary():
    cond = {"mae": 5.0, "mae_ci95": [4.5, 5.5], "mae_seeds": [4.9, 5.1, 5.0], "mean_predictor_mae": 14.0,
            "val_mae": 6.0, "heldout_mae": 7.0}
    return {"test_set": "utkface_asian", "conditions": {"baseline": cond}, "reference": {"aihub_scratch": cond},
            "comparisons": [{"a": "vcop_downstream", "b": "aihub_scratch", "mae_diff": -0.25, "ci95": [-0.5, 0.0],
                             "verdict": "no difference shown", "seeds_a_better": 4, "seeds": 5}]}


def test_a_published_run_renders_into_marked_tables_and_drift_is_caught(tmp_path):
    out = tmp_path / "out"
    (out / "results").mkdir(parents=True)
    (out / "results" / "summary.json").write_text(json.dumps(_summary()))
    (out / "run_times.json").write_text(json.dumps({"preset": "demo", "00_prepare-data": 12.0, "01_x": 30.0}))
    (out / "seed0" / "results").mkdir(parents=True)
    (out / "seed0" / "results" / "baseline.json").write_text(json.dumps({"git": {"commit": "abc", "dirty": False}}))
    path = tables.publish(tmp_path, "demo-run", out, "facelib run --seeds 0,1,2", "synthetic faces")
    record = json.loads(path.read_text())
    assert record["commits"] == ["abc"] and record["command"] == "facelib run --seeds 0,1,2"
    doc = tmp_path / "README.md"
    doc.write_text("# x\n<!-- facelib-table: demo-run conditions -->\nold\n<!-- /facelib-table -->\n"
                   "<!-- facelib-table: demo-run comparisons -->\n<!-- /facelib-table -->\n"
                   "<!-- facelib-table: demo-run timing -->\n<!-- /facelib-table -->\n")
    assert len(tables.drift(tmp_path)) == 3
    assert tables.write_all(tmp_path) == [doc]
    text = doc.read_text()
    assert "| 1 baseline | 5.00 [4.50, 5.50] | 4.90, 5.10, 5.00 | 14.00 |  | 6.00 | 7.00 |  |" in text
    assert "| primary | vcop_downstream | aihub_scratch | utkface/asian_test | -0.25 [-0.50, +0.00] | no difference " \
           "shown |  | 4 of 5 |" in text
    assert "| all | 42 |" in text and tables.drift(tmp_path) == []
    doc.write_text(text.replace("5.00 [4.50, 5.50]", "4.00 [3.50, 4.50]"))        # typed by hand
    assert tables.drift(tmp_path) == ["README.md: demo-run conditions"]
    with pytest.raises(FileNotFoundError, match="no published result 'other'"):
        tables.render("<!-- facelib-table: other conditions -->\n<!-- /facelib-table -->", tmp_path)


def test_a_comparison_over_too_few_seeds_renders_as_no_verdict_whatever_its_interval():
    c = {"a": "a", "b": "b", "mae_diff": 2.3, "ci95": [1.8, 2.8], "verdict": "no difference shown", "seeds": 1,
         "why": "1 model seed: at least 3 are needed"}
    assert tables._verdict(c) == "no verdict (1 seed)"
    assert tables._verdict({**c, "seeds": 2}) == "no verdict (2 seeds)"
    del c["why"]
    assert tables._verdict({**c, "seeds": 5}) == "no difference shown"


def _check(median, split="", commit="abc1234def"):
    case = {"faces": 4, "answered": 1.0, "same_age": "50.0%", "median_distance": median, "mae_predict": 5.0,
            "mae_evaluation": 4.0, "mae_ratio": 1.25, "mae_ratio_95": [1.0, 1.5], "alignment": "face boxes and eyes 4"}
    return {"condition": "baseline", "seed": 0, "data": "real", "data_id": "d-1", "test_set": "aaf", "split": split,
            "faces_from": 0, "faces_used": {"aaf": ["a.jpg"]}, "git": {"commit": commit, "dirty": False},
            "wall_seconds": 12, "cases": [{"case": "originals", **case}, {"case": "aligned", **case}]}


def test_check_predict_results_publish_as_rows_and_blocks_replace_their_own_rows(tmp_path, monkeypatch):
    from facelib.tools.cli import main
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "facelib").mkdir()
    monkeypatch.chdir(tmp_path)
    files = {}
    for key, check in {"base": _check(1.0), "train": _check(2.0, "train"), "val": _check(4.0, "val"),
                       "train2": _check(3.0, "train", "fff0000"), "bad": {"summary": {}}}.items():
        files[key] = tmp_path / f"{key}.json"
        files[key].write_text(json.dumps(check))
    publish = ["report", "--publish", "pc", "--command", "facelib check-predict", "--from"]
    assert main(publish + [str(files["base"]), "--data", "real faces", "--machine", "a CPU"]) == 0
    assert main(publish + [str(files["train"]), "--rows", "aaf_train", "--label", "train list"]) == 0
    assert main(publish + [str(files["val"]), "--rows", "aaf_val", "--machine", "a GPU"]) == 0
    record = tables.load(tmp_path, "pc")
    assert [c["case"] for c in record["cases"]] == ["originals", "aligned", "originals — train list",
                                                    "aligned — train list", "originals", "aligned"]
    assert record["commits"] == ["abc1234"] and record["data"] == "real faces" and record["wall_seconds"] == 12
    assert record["aaf_train"]["split"] == "train" and record["aaf_train"]["command"] == "facelib check-predict"
    assert record["aaf_val"]["machine"] == "a GPU" and "machine" not in record["aaf_train"]
    assert [c.get("block") for c in record["cases"]] == [None, None, "aaf_train", "aaf_train", "aaf_val", "aaf_val"]
    # the first block published again replaces its rows where they stand (before the second block);
    # the base published again keeps both blocks, and its data and machine when none are given
    assert main(publish + [str(files["train2"]), "--rows", "aaf_train", "--label", "train list"]) == 0
    assert main(publish + [str(files["base"])]) == 0
    record = tables.load(tmp_path, "pc")
    assert [c["median_distance"] for c in record["cases"]] == [1.0, 1.0, 3.0, 3.0, 4.0, 4.0]
    assert record["aaf_train"]["commits"] == ["fff0000"] and record["aaf_val"]["split"] == "val"
    assert record["data"] == "real faces" and record["machine"] == "a CPU"
    doc = tmp_path / "README.md"
    doc.write_text("<!-- facelib-table: pc predict -->\n<!-- /facelib-table -->\n")
    tables.write_all(tmp_path)
    assert "| aligned — train list | 4 | 100.00% | 50.0% | 3.00 | 5.00 | 4.00 | 1.25 [1.00, 1.50] |" in doc.read_text()
    # no block may take a record's own field, present or not; a file that is no check result is refused
    for field in ("commits", "cases", "split", "wall_seconds"):
        with pytest.raises(ValueError, match="field"):
            tables.publish_check(tmp_path, "pc", files["train"], "c", rows=field)
    with pytest.raises(ValueError, match="no cases"):
        tables.publish_check(tmp_path, "pc", files["bad"], "c")
    assert main(["report", "--publish", "pc", "--from", str(tmp_path), "--rows", "x"]) == 2   # a folder
    assert main(publish + [str(files["train"]), "--label", "train list"]) == 2                # no --rows
    assert tables.load(tmp_path, "pc") == record                                             # refusals wrote nothing
