"""Conditions end to end on tiny data: results files, weights, prerequisites, the r21d_original variant."""
import json
import math

import numpy as np
import pytest

from facelib import conditions as C
from facelib.config import get_config


def _read(paths, name):
    return json.loads((paths.results_dir / f"{name}.json").read_text())


def test_all_conditions_run_and_write_results(trained_paths, smoke_cfg):
    paths = trained_paths
    for name in ("baseline", "korean_finetuned", "vcop_downstream", "multitrain"):
        r = _read(paths, name)
        assert r["data"] == "synthetic" and r["preset"] == "smoke" and r["seed"] == smoke_cfg.seed
        assert (paths.root / r["weights"]).exists()
        assert r["test"]["n"] == 30 and r["mean_predictor"]["n"] == 30
        assert all(math.isfinite(r["test"][k]) for k in ("mae", "rmse", "r2", "ca3", "ca5"))
        assert "torch" in r["versions"] and r["data_hash"]
        assert r["mean_predictor"]["predicts"] == pytest.approx(r["train"]["mean_age"])
        model, cfg = C.load_model(name, paths)  # weights rebuild into the same architecture
    v = _read(paths, "vcop")["pretext"]
    assert v["chance_top1"] == pytest.approx(1 / 24) and 0 <= v["top1"] <= 1


def test_missing_prerequisites_name_the_notebook(tiny_paths, smoke_cfg):
    with pytest.raises(FileNotFoundError, match="run notebook 03_finetune_base_to_kor first"):
        C.korean_finetuned(smoke_cfg, tiny_paths, progress=False)
    with pytest.raises(FileNotFoundError, match="run notebook 01_ssl-preTextTask first"):
        C.vcop_downstream(smoke_cfg, tiny_paths, progress=False)
    with pytest.raises(FileNotFoundError, match="run notebook 05_multitrain first"):
        C.evaluate_condition("multitrain", tiny_paths)


def test_r21d_original_variant_of_conditions_3_and_4(tiny_paths):
    cfg = get_config("smoke", encoder="r21d_original", tuples_per_identity=2, min_age_gap=2)
    C.vcop(cfg, tiny_paths, progress=False)
    run3 = C.vcop_downstream(cfg, tiny_paths, progress=False)
    run4 = C.multitrain(cfg, tiny_paths, progress=False)
    for name in ("vcop_downstream", "multitrain"):
        ev = C.evaluate_condition(name, tiny_paths)
        assert math.isfinite(ev["test"]["mae"])
        assert _read(tiny_paths, name)["config"]["encoder"] == "r21d_original"
    assert type(run3.model).__name__ == "R21DRegressor"
    assert type(run4.model.regressor).__name__ == "R21DRegressor"
    # a shared2d downstream cannot start from r21d pretext weights
    with pytest.raises(ValueError, match="encoder='r21d_original'"):
        C.vcop_downstream(get_config("smoke", tuples_per_identity=2, min_age_gap=2), tiny_paths, progress=False)


def test_two_independent_encoders(tiny_paths, smoke_cfg):
    from dataclasses import replace
    cfg = replace(smoke_cfg, share_encoder=False)
    run = C.multitrain(cfg, tiny_paths, progress=False)
    assert run.model.order.backbone is not run.model.regressor.backbone
    shared = C.build_multitrain(smoke_cfg)
    assert shared.order.backbone is shared.regressor.backbone


def test_unknown_condition_is_a_clear_error(tiny_paths):
    with pytest.raises(ValueError, match="condition='basline' is not one of 'baseline'"):
        C.evaluate_condition("basline", tiny_paths)


def test_same_seed_same_metrics_other_seed_other_metrics(tiny_data, tiny_cache, tmp_path):
    from dataclasses import replace

    from facelib.paths import Paths

    def run(tag, seed):
        paths = Paths(root=tmp_path / tag, data_root=tiny_data, cache_dir=tiny_cache[0],
                      weights_dir=tmp_path / tag / "w", out_dir=tmp_path / tag / "o", synthetic=True)
        cfg = replace(get_config("smoke", **{"baseline.epochs": 2}), seed=seed)
        return C.baseline(cfg, paths, progress=False).val
    a, b, c = run("a", 0), run("b", 0), run("c", 1)
    assert {k: a[k] for k in ("mae", "rmse", "ca5")} == {k: b[k] for k in ("mae", "rmse", "ca5")}
    assert a["mae"] != c["mae"]


def test_condition_3_starts_from_the_pretext_encoder_and_the_control_does_not(trained_paths, tiny_paths, smoke_cfg):
    import shutil

    import torch
    tiny_paths.weights_dir.mkdir(parents=True)
    shutil.copy(trained_paths.weights_dir / "vcop.pt", tiny_paths.weights_dir / "vcop.pt")
    pre = C.load_checkpoint(tiny_paths.weights_dir / "vcop.pt")["model"]["backbone.stem.0.weight"]
    # max_epochs=0: no training step, so each model keeps the weights it started from
    warm = C.vcop_downstream(smoke_cfg, tiny_paths, progress=False, max_epochs=0)
    cold = C.vcop_downstream(smoke_cfg, tiny_paths, progress=False, max_epochs=0, from_scratch=True)
    assert torch.equal(warm.model.backbone.stem[0].weight.cpu(), pre)
    assert not torch.equal(cold.model.backbone.stem[0].weight.cpu(), pre)
    assert cold.weights.name == "aihub_scratch.pt"


def test_scratch_control_is_a_reference_not_a_condition(trained_paths, smoke_cfg):
    from facelib.results import read_results, summarize, summary_table
    C.vcop_downstream(smoke_cfg, trained_paths, progress=False, from_scratch=True)
    C.evaluate_condition("aihub_scratch", trained_paths)
    summary = summarize({0: read_results(trained_paths.results_dir)}, trained_paths.root)
    assert set(summary["conditions"]) == {"baseline", "korean_finetuned", "vcop_downstream", "multitrain"}
    assert summary["reference"]["aihub_scratch"]["n"] == 30
    assert list(summary_table(summary).index)[-2:] == ["mean_predictor", "aihub_scratch"]


def _paths_on(cache_dir, data_root, root, weights):
    from facelib.paths import Paths
    return Paths(root=root, data_root=data_root, cache_dir=cache_dir, weights_dir=weights, out_dir=root / "outputs",
                 synthetic=True)


def test_stale_runs_retrain_when_their_data_or_upstream_changes(tiny_data, tiny_cache, tmp_path, capsys):
    """Two runs sharing the weights folder, the second on other UTKFace data: baseline retrains,
    then korean_finetuned retrains because its upstream changed, though its own data did not."""
    import shutil

    from facelib.data.prepare import prepare
    other = tmp_path / "other_data"
    shutil.copytree(tiny_data, other)
    for p in sorted((other / "utkface").glob("*.jpg"))[::3]:
        p.unlink()                                      # other UTKFace data; AIHub untouched
    prepare(other, tmp_path / "cache_b", image_size=32, progress=False)
    weights = tmp_path / "weights"
    a = _paths_on(tiny_cache[0], tiny_data, tmp_path / "a", weights)
    b = _paths_on(tmp_path / "cache_b", other, tmp_path / "b", weights)
    cfg = get_config("smoke")
    C.baseline(cfg, a, progress=False)
    C.korean_finetuned(cfg, a, progress=False)
    capsys.readouterr()

    base = C.baseline(cfg, b, progress=False)
    kor = C.korean_finetuned(cfg, b, progress=False)
    out = capsys.readouterr().out
    assert base.fit.resumed_from == 0 and kor.fit.resumed_from == 0
    assert "[baseline] retraining from scratch: training data (utkface/train, utkface/val) changed" in out
    assert "[korean_finetuned] retraining from scratch: upstream weights (baseline) changed" in out
    r = _read(b, "korean_finetuned")
    assert r["upstream"] == {"baseline": C.load_checkpoint(b.weights_dir / "baseline.pt")["state_hash"]}
    assert r["data_hashes"]["aihub/finetune_train"] == _read(a, "korean_finetuned")["data_hashes"]["aihub/finetune_train"]

    # the same data, upstream and settings: nothing trains again, whatever the device, workers or AMP
    again = C.korean_finetuned(get_config("smoke", device="cpu", num_workers=1, amp=False), b, progress=False)
    assert again.fit.resumed_from == again.fit.budget["epochs"] == 1
    # any other setting retrains, saying which
    C.korean_finetuned(get_config("smoke", **{"korean_finetuned.lr": 0.01}), b, progress=False)
    assert "settings (train.lr) changed" in capsys.readouterr().out


def test_condition_3_retrains_when_the_pretext_model_changes(trained_paths, tmp_path, capsys):
    import shutil
    paths = _paths_on(trained_paths.cache_dir, trained_paths.data_root, tmp_path, tmp_path / "weights")
    shutil.copytree(trained_paths.weights_dir, paths.weights_dir)
    cfg = get_config("smoke", tuples_per_identity=2, min_age_gap=2)
    C.vcop_downstream(cfg, paths, progress=False)
    assert C.vcop_downstream(cfg, paths, progress=False).fit.resumed_from == 1       # finished: kept
    C.vcop(get_config("smoke", tuples_per_identity=2, min_age_gap=2, seed=5), paths, progress=False)
    capsys.readouterr()
    assert C.vcop_downstream(cfg, paths, progress=False).fit.resumed_from == 0
    assert "[vcop_downstream] retraining from scratch: upstream weights (vcop) changed" in capsys.readouterr().out


def test_arms_get_their_own_settings_and_the_same_labelled_images(trained_paths, smoke_cfg):
    cfg = get_config("demo")
    assert cfg.aihub_scratch.backbone_lr_mult == 1.0 and cfg.vcop_downstream.backbone_lr_mult == 0.1
    for name in ("aihub_scratch", "multitrain"):
        mine, ref = getattr(cfg, name), cfg.vcop_downstream
        assert (mine.epochs, mine.batch_size, mine.patience) == (ref.epochs, ref.batch_size, ref.patience) == (8, 64, 8)
    C.vcop_downstream(smoke_cfg, trained_paths, progress=False, from_scratch=True)
    seen = {n: _read(trained_paths, n)["budget"] for n in ("vcop_downstream", "aihub_scratch", "multitrain")}
    assert len({b["images_seen"] for b in seen.values()}) == 1 and seen["multitrain"]["images_seen"] > 0
    assert {"images_seen", "epochs", "steps", "seconds"} <= set(seen["multitrain"])


def test_multitrain_uses_condition_3_parameter_groups_and_the_order_loss(tiny_paths, monkeypatch):
    from facelib import losses as L
    cfg = get_config("smoke", tuples_per_identity=2, min_age_gap=2, order_head="vcop", order_loss="soft",
                     **{"multitrain.backbone_lr_mult": 0.25})
    model = C.build_multitrain(cfg)
    groups = model.param_groups(1.0, 0.25)
    assert [g["name"] for g in groups] == ["backbone", "head"] and groups[0]["lr"] == 0.25
    n_backbone = sum(p.numel() for p in model.regressor.backbone.parameters())
    assert sum(p.numel() for p in groups[0]["params"]) == n_backbone
    assert sum(p.numel() for g in groups for p in g["params"]) == sum(p.numel() for p in model.parameters())
    calls = []
    real = L.SoftPermutationLoss.forward
    monkeypatch.setattr(L.SoftPermutationLoss, "forward", lambda self, *a: calls.append(1) or real(self, *a))
    C.multitrain(cfg, tiny_paths, progress=False)
    assert calls, "multitrain did not use order_loss='soft'"
    h = __import__("pandas").read_csv(tiny_paths.runs_dir / "multitrain" / "history.csv")
    assert h["lr_backbone"].iloc[0] == pytest.approx(0.25 * h["lr_head"].iloc[0])


def test_label_fractions_train_both_arms_on_the_same_nested_identities(trained_paths, tmp_path):
    import shutil
    paths = _paths_on(trained_paths.cache_dir, trained_paths.data_root, tmp_path, tmp_path / "weights")
    shutil.copytree(trained_paths.weights_dir, paths.weights_dir)
    cfg = get_config("smoke", tuples_per_identity=2, min_age_gap=2)
    runs = C.condition_3_arms(cfg, paths, label_fractions=[0.5], progress=False)
    assert set(runs) == {"vcop_downstream", "aihub_scratch", "vcop_downstream_labels50", "aihub_scratch_labels50"}
    half = {n: _read(paths, n)["train"] for n in ("vcop_downstream_labels50", "aihub_scratch_labels50")}
    full = _read(paths, "vcop_downstream")["train"]
    assert half["vcop_downstream_labels50"]["train_ages"] == half["aihub_scratch_labels50"]["train_ages"]
    assert 0 < half["vcop_downstream_labels50"]["n"] < full["n"]
    assert all("test" in _read(paths, n) for n in runs)
    from facelib.data.prepare import FaceCache
    c = FaceCache(paths.cache_dir, "aihub")
    ids = {f: set(c.split("finetune_train", f, 0)["identity"]) for f in (0.25, 0.5, 1.0)}
    assert ids[0.25] <= ids[0.5] <= ids[1.0] and len(ids[0.25]) < len(ids[1.0])


def _fgnet_from(tiny_data, dest):
    """The tiny synthetic AIHub people rewritten in FG-NET's layout: NNNAxx.JPG and 68-point .pts files
    holding the 5 landmarks at FG-NET's indices."""
    import numpy as np
    from PIL import Image

    from facelib.data.readers import FGNET_POINTS, read_aihub
    (dest / "images").mkdir(parents=True)
    (dest / "points").mkdir()
    seen = set()
    for r in read_aihub(tiny_data / "aihub")[0]:
        pid, age = int(r.identity.split(":")[1]), int(r.age)
        if (pid, age) in seen:
            continue
        seen.add((pid, age))
        Image.open(r.path).convert("RGB").save(dest / "images" / f"{pid:03d}A{age:02d}.JPG", quality=92)
        pts = np.repeat(r.landmarks.mean(0, keepdims=True), 68, 0)
        pts[FGNET_POINTS] = r.landmarks
        (dest / "points" / f"{pid:03d}a{age:02d}.pts").write_text(
            "version: 1\nn_points: 68\n{\n" + "".join(f"{x:.2f} {y:.2f}\n" for x, y in pts) + "}\n")


def test_the_study_on_utkface_and_fgnet_alone(tiny_data, tmp_path):
    """Without AIHub and MegaAge-Asian: FG-NET plays the identities, UTKFace's Asian faces the test split."""
    import shutil

    from facelib.data.prepare import prepare
    from facelib.notebook import roles
    from facelib.paths import Paths
    from facelib.report import conclusion
    from facelib.results import summarize
    root = tmp_path / "public"
    shutil.copytree(tiny_data / "utkface", root / "utkface")
    _fgnet_from(tiny_data, root / "fgnet")
    assert roles(root) == ("fgnet", "utkface_asian")
    prepare(root, tmp_path / "cache", image_size=32, progress=False)
    paths = Paths(root=tmp_path, data_root=root, cache_dir=tmp_path / "cache", weights_dir=tmp_path / "w",
                  out_dir=tmp_path / "o", synthetic=False)
    from .conftest import train_every_run
    train_every_run(get_config("smoke", identities="fgnet", test_set="utkface_asian", tuples_per_identity=2,
                               min_age_gap=2), paths)
    r = _read(paths, "vcop_downstream")
    # FG-NET fine-tuning mixes in three UTKFace training faces for each of its own (utkface_share 0.75),
    # and says so in its key
    from facelib.data.prepare import FaceCache
    assert r["train"]["dataset"] == "fgnet" and r["utkface_share"] == 0.75
    assert set(r["data_hashes"]) == {"fgnet/finetune_train", "fgnet/finetune_val", "utkface/train", "utkface/val"}
    assert r["val"]["n"] == len(FaceCache(paths.cache_dir, "fgnet").split("finetune_val"))  # own val: FG-NET alone
    assert r["train"]["n"] == 4 * len(FaceCache(paths.cache_dir, "fgnet").split("finetune_train"))
    assert set(_read(paths, "baseline")["data_hashes"]) == {"utkface/train", "utkface/val"}
    assert r["test"]["dataset"] == "utkface" and r["test"]["split"] == "asian_test"
    summary = summarize({0: {n: _read(paths, n) for n in ("baseline", "korean_finetuned", "vcop", "vcop_downstream",
                                                           "aihub_scratch", "multitrain")}}, paths.root)
    assert summary["identities"] == "fgnet" and summary["test_set"] == "utkface_asian"
    # condition 3 (and 4) against the control on FG-NET's own held-out people too, paired face by face
    own = {(c["a"], c["b"]): c for c in summary["comparisons_own_val"]}
    assert set(own) == {("vcop_downstream", "aihub_scratch"), ("multitrain", "aihub_scratch")}
    c = own["vcop_downstream", "aihub_scratch"]
    e3, ec = (np.array(_read(paths, n)["val"]["abs_errors"]) for n in ("vcop_downstream", "aihub_scratch"))
    assert len(e3) == r["val"]["n"] and c["split"] == "fgnet/finetune_val"
    assert c["mae_diff"] == pytest.approx(e3.mean() - ec.mean(), abs=1e-6) and c["ci95"][0] <= c["mae_diff"] <= c["ci95"][1]
    text = conclusion(summary)
    assert "On FG-NET's own held-out people (fgnet/finetune_val)" in text
    assert "On the Asian faces of UTKFace held out of training" in text and "FG-NET played the identities role" in text


def test_the_run_key_holds_the_resolved_utkface_share_of_fine_tuning_runs_only(tiny_cache):
    from facelib.data.prepare import FaceCache
    cache = FaceCache(tiny_cache[0], "aihub")
    key = lambda rehearsal=True, **kw: C.run_key(get_config("smoke", **kw), "vcop_downstream", cache,  # noqa: E731
                                                  ("finetune_train",), rehearsal=rehearsal)
    assert key()["config"]["utkface_share"] == 0.0 and "utkface/train" not in key()["data"]   # AIHub alone
    assert key() == key(utkface_share=0.0)                   # the default resolved, not the None
    mixed = key(utkface_share=0.5)
    assert mixed["config"]["utkface_share"] == 0.5 and {"utkface/train", "utkface/val"} <= set(mixed["data"])
    assert key(utkface_share=0.75) != mixed
    assert "utkface_share" not in key(rehearsal=False, utkface_share=0.5)["config"]   # e.g. the baseline, vcop
    assert key(rehearsal=False) == key(rehearsal=False, utkface_share=0.5)
