"""`facelib compare-results`: two runs' results equal field by field, and (--homes) what they learned
and read: weights bitwise, cached crops by dataset, split and framing."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from facelib.tools.compare import compare_homes, compare_results


def _home(root):
    (root / "outputs" / "seed0" / "results").mkdir(parents=True)
    (root / "outputs" / "seed0" / "results" / "baseline.json").write_text(json.dumps(
        {"test": {"mae": 5.25, "n": 10}, "train_seconds": 12.0, "git": {"commit": "abc"}}))
    (root / "weights" / "seed0").mkdir(parents=True)
    torch.save({"model": {"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(3)}},
               root / "weights" / "seed0" / "baseline.pt")
    cache = root / "data" / "cache" / "demo"
    cache.mkdir(parents=True)
    np.save(cache / "megaage_asian.npy", np.arange(4 * 2 * 2, dtype=np.uint8).reshape(4, 2, 2))
    pd.DataFrame({"age": [1, 2, 3, 4], "split": ["train", "test", "test", "test"],
                  "framing": ["eyes", "eyes", "median", "median"]}).to_csv(cache / "megaage_asian.csv", index=False)
    return root


def test_equal_homes_and_what_is_left_out(tmp_path):
    a = _home(tmp_path / "a")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    rec = b / "outputs" / "seed0" / "results" / "baseline.json"
    rec.write_text(rec.read_text().replace("12.0", "99.0").replace("abc", "def"))   # times and commits
    assert compare_results(a / "outputs", b / "outputs") == ([], 1)
    diffs, same = compare_homes(a, b)
    assert diffs == [] and same == ["1 of 1 weights files hold bitwise-equal model tensors",
                                    "data/cache/demo/megaage_asian.npy: all 4 crops equal"]


def test_a_changed_result_weight_or_crop_is_named(tmp_path):
    a, b = _home(tmp_path / "a"), _home(tmp_path / "b")
    rec = b / "outputs" / "seed0" / "results" / "baseline.json"
    rec.write_text(rec.read_text().replace("5.25", "5.5"))
    assert compare_results(a / "outputs", b / "outputs")[0] == [
        "seed0/results/baseline.json.test.mae: 5.25 against 5.5"]
    w = b / "weights" / "seed0" / "baseline.pt"
    ckpt = torch.load(w)
    ckpt["model"]["b"][1] = 1e-7
    torch.save(ckpt, w)
    x = np.load(b / "data/cache/demo/megaage_asian.npy")
    x[2, 0, 0] += 1
    x[3, 1, 1] += 1
    np.save(b / "data/cache/demo/megaage_asian.npy", x)
    diffs, same = compare_homes(a, b)
    assert diffs == ["weights/seed0/baseline.pt: the model's tensors differ",
                     "data/cache/demo/megaage_asian.npy: 2 of 4 crops differ (test, median: 2)"]
    assert same == ["0 of 1 weights files hold bitwise-equal model tensors"]


def test_files_in_one_home_only_other_faces_and_an_empty_home_are_named(tmp_path):
    a, b = _home(tmp_path / "a"), _home(tmp_path / "b")
    torch.save({"model": {"w": torch.ones(2)}}, b / "weights" / "seed0" / "vcop.pt")
    shutil.copy(a / "data/cache/demo/megaage_asian.npy", b / "data/cache/demo/utkface.npy")
    shutil.copy(a / "data/cache/demo/megaage_asian.csv", b / "data/cache/demo/utkface.csv")
    m = pd.read_csv(b / "data/cache/demo/megaage_asian.csv")
    m.loc[0, "age"] = 30
    m.to_csv(b / "data/cache/demo/megaage_asian.csv", index=False)
    diffs, _ = compare_homes(a, b)
    assert diffs == ["weights/seed0/vcop.pt: only in B", "data/cache/demo/utkface.npy: only in B",
                     "data/cache/demo/megaage_asian.npy: other faces (4 crops against 4, or other labels)"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="is it a FACELIB_HOME"):
        compare_homes(a, tmp_path / "empty")
