"""Conditions end to end on tiny data: results files, weights, prerequisites, the r21d_mini variant."""
import json
import math

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


def test_r21d_mini_variant_of_conditions_3_and_4(tiny_paths):
    cfg = get_config("smoke", encoder="r21d_mini", tuples_per_identity=2, min_age_gap=2)
    C.vcop(cfg, tiny_paths, progress=False)
    run3 = C.vcop_downstream(cfg, tiny_paths, progress=False)
    run4 = C.multitrain(cfg, tiny_paths, progress=False)
    for name in ("vcop_downstream", "multitrain"):
        ev = C.evaluate_condition(name, tiny_paths)
        assert math.isfinite(ev["test"]["mae"])
        assert _read(tiny_paths, name)["config"]["encoder"] == "r21d_mini"
    assert type(run3.model).__name__ == "R21DRegressor"
    assert type(run4.model.regressor).__name__ == "R21DRegressor"
    # a shared2d downstream cannot start from r21d pretext weights
    with pytest.raises(ValueError, match="encoder='r21d_mini'"):
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
    assert torch.equal(warm.model.backbone.stem[0].weight, pre)
    assert not torch.equal(cold.model.backbone.stem[0].weight, pre)
    assert cold.weights.name == "aihub_scratch.pt"


def test_scratch_control_is_a_reference_not_a_condition(trained_paths, smoke_cfg):
    from facelib.results import read_results, summarize, summary_table
    C.vcop_downstream(smoke_cfg, trained_paths, progress=False, from_scratch=True)
    C.evaluate_condition("aihub_scratch", trained_paths)
    summary = summarize({0: read_results(trained_paths.results_dir)}, trained_paths.root)
    assert set(summary["conditions"]) == {"baseline", "korean_finetuned", "vcop_downstream", "multitrain"}
    assert summary["reference"]["aihub_scratch"]["n"] == 30
    assert list(summary_table(summary).index)[-2:] == ["mean_predictor", "aihub_scratch"]
