"""The summary: per-seed results, and records that no longer describe what is in place left out
(failing closed), each named once with its reason."""
import json
import os
import shutil

import pytest

from facelib.study import conditions as C
from facelib.config import get_config
from facelib.paths import Paths
from facelib.reporting.results import NothingToReport, collect, protocol, summarize, write_summary

from .conftest import train_every_run


def _paths(root, data_root, cache_dir, synthetic=True, weights=None, out=None):
    return Paths(root=root, data_root=data_root, cache_dir=cache_dir, weights_dir=weights or root / "weights",
                 out_dir=out or root / "outputs", synthetic=synthetic)


@pytest.fixture(scope="module")
def two_seeds(tiny_data, tiny_cache, tmp_path_factory):
    """Every condition and both controls trained and tested with model seeds 0 and 1 (smoke preset)."""
    root = tmp_path_factory.mktemp("seeds")
    paths = _paths(root, tiny_data, tiny_cache[0])
    import facelib
    for c, p in facelib.each_seed(get_config("smoke", tuples_per_identity=2, min_age_gap=2), paths, [0, 1]):
        train_every_run(c, p, fixed_epoch_arm=True)
    return paths


def _link_or_copy(src, dst):
    """Weights files are hard-linked (facelib saves them by rename, never in place: a retrained
    copy is a new file); everything else is copied."""
    return os.link(src, dst) if str(src).endswith(".pt") else shutil.copy2(src, dst)


def _copy(paths, tmp_path):
    """The weights and outputs of `paths` under another root (results files name their weights
    relative to it)."""
    new = _paths(tmp_path, paths.data_root, paths.cache_dir)
    shutil.copytree(paths.weights_dir, new.weights_dir, copy_function=_link_or_copy)
    shutil.copytree(paths.out_dir, new.out_dir)
    return new


def test_summary_fields_with_two_seeds(two_seeds):
    s = write_summary(two_seeds, [0, 1])
    assert s["seeds"] == [0, 1] and s["warnings"] == [] and s["left_out"] == [] and s["data"] == "synthetic"
    assert set(s["conditions"]) == {"baseline", "korean_finetuned", "vcop_downstream", "multitrain"}
    for name, m in [*s["conditions"].items(), *((c, s["reference"][c]) for c in ("aihub_scratch",
                                                                                 "supervised_downstream"))]:
        per_seed = [json.loads((two_seeds.for_seed(k).results_dir / f"{name}.json").read_text())["test"]["mae"]
                    for k in (0, 1)]
        assert m["mae_seeds"] == pytest.approx(per_seed)
        assert m["mae"] == pytest.approx(sum(per_seed) / 2)
        assert m["mae_ci95"][0] <= m["mae"] <= m["mae_ci95"][1]
        assert isinstance(m["beats_mean_predictor"], bool)
        assert m["val_split"] == ("utkface/val" if name == "baseline" else "aihub/finetune_val") and m["val_mae"] > 0
        assert {"rmse", "r2", "ca3", "ca5", "n"} <= set(m)
    pairs = [(c["a"], c["b"]) for c in s["comparisons"]]
    assert pairs == [("korean_finetuned", "baseline"), ("vcop_downstream", "baseline"), ("multitrain", "baseline"),
                     ("vcop_downstream", "aihub_scratch"), ("vcop_downstream", "supervised_downstream"),
                     ("supervised_downstream", "aihub_scratch"),
                     ("multitrain", "aihub_scratch"), ("multitrain", "supervised_downstream")]
    assert [c["role"] for c in s["comparisons"]] == ["secondary"] * 3 + ["primary"] * 3 + ["secondary"] * 2
    arms = {**s["conditions"], **s["reference"], **s["sensitivity"]["arms"]}
    for c in s["comparisons"] + s["sensitivity"]["comparisons"]:
        a, b = arms[c["a"]], arms[c["b"]]
        assert c["mae_diff"] == pytest.approx(a["mae"] - b["mae"], abs=1e-5)  # CSV vs float32
        assert c["seeds"] == 2 and c["verdict"] == "no difference shown" and "at least 3" in c["why"]
        assert c["equivalence"] == "not shown equivalent" and c["margin"] == 0.5 and c["ci90"][0] <= c["mae_diff"]
    assert [(c["a"], c["b"]) for c in s["comparisons_heldout"]] == pairs[3:]
    assert all("heldout_mean_predictor_mae" in arms[n] for n in ("vcop_downstream", "aihub_scratch"))
    assert [(c["a"], c["b"]) for c in s["sensitivity"]["comparisons"]] == [
        ("vcop_downstream_fixed", "aihub_scratch"), ("vcop_downstream_fixed", "supervised_downstream_fixed"),
        ("supervised_downstream_fixed", "aihub_scratch")]
    assert all(c["role"] == "sensitivity" for c in s["sensitivity"]["comparisons"])
    p = s["protocol"]
    assert p["seeds"] == [0, 1] and p["identities"] == "aihub" and p["utkface_share"] == 0.0
    assert set(p["backbone_lr_mult"]) == {"vcop_downstream", "aihub_scratch", "supervised_downstream", "multitrain",
                                          "vcop_downstream_fixed", "supervised_downstream_fixed"}
    assert all(set(v) == {"0", "1"} for v in p["backbone_lr_mult"].values())
    assert p["split_seeds"] == {"0": [0, 0], "1": [0, 1]}
    assert "validation" in p["selection"]["vcop_downstream"]["epoch"] and "test" not in \
        p["selection"]["vcop_downstream"]["epoch"]
    assert set(p["selection"]["vcop_downstream"]["seeds"]) == {"0", "1"}           # every seed's choice
    assert "last of" in p["selection"]["vcop_fixed"]["epoch"]
    assert p["order_loss_name"].startswith("pairwise logistic ranking") and p["downstream_loss"].startswith("L1")
    assert p["equivalence_margin"]["years"] == 0.5 and p["equivalence_margin"]["fixed"] == "2026-12-06"
    assert set(s["budget"]) == {"vcop", "supervised_pretext", "baseline", "korean_finetuned", "vcop_downstream",
                                "aihub_scratch", "supervised_downstream", "multitrain", "vcop_fixed",
                                "supervised_pretext_fixed", "vcop_downstream_fixed", "supervised_downstream_fixed"}
    for b in s["budget"].values():
        assert b["images_kept"] <= b["images_seen"] and 1 <= b["kept_epoch"] <= b["epochs"]
    assert (two_seeds.results_dir / "summary.csv").read_text().splitlines()[0] == "condition,mae,rmse,r2,ca3,ca5,n"


def test_stale_and_foreign_results_are_left_out_each_once_with_the_reason(two_seeds, tmp_path):
    paths = _copy(two_seeds, tmp_path)
    s0 = paths.for_seed(0)
    old = (s0.results_dir / "baseline.json").read_text()
    C.baseline(get_config("smoke", **{"baseline.lr": 0.01}), s0, progress=False)   # trained again ...
    (s0.results_dir / "baseline.json").write_text(old)                             # ... its old record left behind
    per_seed, left_out, warnings = collect(paths, [0])
    assert "baseline" not in per_seed[0]
    why = {e["file"]: e["why"] for e in left_out}
    assert "trained again since" in why["outputs/seed0/results/baseline.json"]
    # korean_finetuned started from the baseline that is no longer in place
    assert "baseline was trained again since this run started from it" in why["outputs/seed0/results/korean_finetuned.json"]
    assert "korean_finetuned" not in per_seed[0] and "vcop_downstream" in per_seed[0]
    assert len(left_out) == len(set(why)) == 2 and any("results of seeds [1]" in w for w in warnings)


def test_unfinished_runs_and_other_code_versions_are_left_out(two_seeds, tmp_path):
    paths = _copy(two_seeds, tmp_path)
    s0 = paths.for_seed(0)
    C.baseline(get_config("smoke", **{"baseline.epochs": 3}), s0, progress=False, max_epochs=1)   # cut short
    r = json.loads((s0.results_dir / "vcop.json").read_text())
    (s0.results_dir / "vcop.json").write_text(json.dumps({**r, "code_version": r["code_version"] - 1}))
    _, left_out, _ = collect(paths, [0])
    why = {e["file"].rsplit("/", 1)[1]: e["why"] for e in left_out}
    assert "its training did not finish (1 epochs run)" in why["baseline.json"]
    assert "another facelib code version" in why["vcop.json"]


def test_a_record_of_a_dataset_absent_from_the_cache_is_left_out(two_seeds, tmp_path):
    paths = _copy(two_seeds, tmp_path)
    cache = tmp_path / "cache"
    shutil.copytree(two_seeds.cache_dir, cache)
    for f in cache.glob("aihub.*"):
        f.unlink()                                   # a cache without AIHub, e.g. a UTKFace + FG-NET folder
    paths.cache_dir = cache
    per_seed, left_out, _ = collect(paths, [0])
    assert "baseline" in per_seed[0] and "vcop_downstream" not in per_seed[0]
    why = {e["file"].rsplit("/", 1)[1]: e["why"] for e in left_out}
    assert "which the prepared cache no longer holds" in why["vcop_downstream.json"]


def test_nothing_left_to_report_names_the_files_and_what_to_run(two_seeds, tmp_path, capsys):
    paths = _copy(two_seeds, tmp_path)
    paths.synthetic = False                          # as if the folders now held another study's data
    with pytest.raises(NothingToReport) as e:
        write_summary(paths, [0])
    msg = str(e.value)
    assert "left out:" in msg and "seed 0: outputs/seed0/results/baseline.json left out: it was trained on synthetic " \
        "data; the data in place are real" in msg and "run notebooks 01-05" in msg
    assert "WARNING: seed 0: outputs/seed0/results/baseline.json left out" in capsys.readouterr().out
    with pytest.raises(NothingToReport, match="no results files were found"):
        summarize({0: {}}, paths)


def test_a_synthetic_run_then_a_real_one_into_the_same_folders(tiny_data, tmp_path):
    """Issue 18's scenario: label fractions on synthetic faces, then a real study (here UTKFace +
    FG-NET in their own layouts, marked real) into the same weights and outputs: the summary is of
    the real data alone, with no synthetic label-efficiency point."""
    from facelib.data.prepare import prepare

    from .test_conditions import _fgnet_from
    weights, out = tmp_path / "weights", tmp_path / "outputs"
    prepare(tiny_data, tmp_path / "cache_syn", image_size=32, progress=False)
    syn = _paths(tmp_path, tiny_data, tmp_path / "cache_syn", True, weights, out).for_seed(0)
    cfg = get_config("smoke", tuples_per_identity=2, min_age_gap=2)
    train_every_run(cfg, syn)
    C.condition_3_arms(cfg, syn, label_fractions=[0.5], progress=False)
    real_root = tmp_path / "public"
    shutil.copytree(tiny_data / "utkface", real_root / "utkface")
    _fgnet_from(tiny_data, real_root / "fgnet")
    prepare(real_root, tmp_path / "cache_real", image_size=32, progress=False)
    real = _paths(tmp_path, real_root, tmp_path / "cache_real", False, weights, out)
    train_every_run(get_config("smoke", identities="fgnet", test_set="utkface_asian", tuples_per_identity=2,
                               min_age_gap=2), real.for_seed(0))
    s = write_summary(real, [0])
    assert s["data"] == "real" and s["identities"] == "fgnet" and "label_efficiency" not in s
    left = {e["file"].rsplit("/", 1)[1] for e in s["left_out"]}
    assert {"vcop_downstream_labels50.json", "aihub_scratch_labels50.json", "supervised_downstream_labels50.json"} <= left
    assert all("synthetic" in e["why"] for e in s["left_out"])


def test_a_control_fine_tuned_otherwise_and_test_results_without_a_training_record_are_left_out(two_seeds, tmp_path):
    paths = _copy(two_seeds, tmp_path)
    res = paths.for_seed(0).results_dir
    r = json.loads((res / "aihub_scratch.json").read_text())
    r["config"]["vcop_downstream"]["epochs"] += 5                      # not condition 3's recipe any more
    (res / "aihub_scratch.json").write_text(json.dumps(r))
    b = json.loads((res / "baseline.json").read_text())
    (res / "baseline.json").write_text(json.dumps({k: v for k, v in b.items() if k != "run_id"}))
    per_seed, left_out, _ = collect(paths, [0])
    why = {e["file"].rsplit("/", 1)[1]: e["why"] for e in left_out}
    assert "so it is no control for it" in why["aihub_scratch.json"] and "aihub_scratch" not in per_seed[0]
    assert "no training record" in why["baseline.json"] and "baseline" not in per_seed[0]
    assert "supervised_downstream" in per_seed[0] and "vcop_downstream" in per_seed[0]


def test_results_of_two_states_of_the_code_are_named(two_seeds, tmp_path):
    paths = _copy(two_seeds, tmp_path)
    res = paths.for_seed(0).results_dir
    for name, commit in (("multitrain", "f" * 40), ("baseline", "a" * 40)):
        r = json.loads((res / f"{name}.json").read_text())
        (res / f"{name}.json").write_text(json.dumps({**r, "git": {"commit": commit, "dirty": False}}))
    _, _, warnings = collect(paths, [0, 1])
    assert any("more than one state of the code: aaaaaaaaaa, ffffffffff" in w for w in warnings)
    for name in ("multitrain", "baseline"):   # one commit, one record made with uncommitted changes
        r = json.loads((res / f"{name}.json").read_text())
        (res / f"{name}.json").write_text(json.dumps({**r, "git": {"commit": "a" * 40, "dirty": name == "baseline"}}))
    _, _, warnings = collect(paths, [0, 1])
    assert any("made by code with uncommitted changes" in w for w in warnings)
    assert not any("more than one state" in w for w in warnings)


def test_the_protocol_says_which_test_faces_were_looked_at(two_seeds):
    per_seed, _, _ = collect(two_seeds, [0, 1])
    assert protocol(per_seed, "aaf/val")["test"].endswith("nothing is chosen on it")
    assert "not a clean test" in protocol(per_seed, "utkface/asian_test")["test"]
