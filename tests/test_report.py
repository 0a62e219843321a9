"""The comparison report: the conclusion names the right winner, checks, derived groups."""
import pandas as pd
import pytest

from facelib.report import best_per_column, comparison_table, conclusion, consistency_warnings, group_classification


def _summary(maes, data="synthetic"):
    conds = {c: {"mae": m, "rmse": m + 2, "r2": 0.5, "ca3": 0.3, "ca5": 0.4, "n": 100} for c, m in maes.items()}
    return {"preset": "demo", "data": data, "conditions": conds,
            "reference": {"mean_predictor": {"mae": 14.0, "rmse": 16, "r2": 0.0, "ca3": 0.1, "ca5": 0.2, "n": 100}},
            "pretext": {"top1": 0.36, "top3": 0.67, "exact_match": 0.36, "kendall_tau": 0.63, "spearman_rho": 0.7,
                        "chance_top1": 1 / 24}}


def test_conclusion_names_the_winner_and_the_margin():
    text = conclusion(_summary({"baseline": 5.0, "korean_finetuned": 4.0, "vcop_downstream": 6.0, "multitrain": 4.5}))
    assert "korean_finetuned has the lowest MAE (4.00 years" in text
    assert "20% lower than the baseline (5.00)" in text
    assert "multitrain 4.50 (-10% vs baseline)" in text and "at least one beats the baseline" in text
    assert "synthetic" in text and "top-1 0.36 (chance 0.04)" in text


def test_conclusion_when_order_pretraining_does_not_help():
    text = conclusion(_summary({"baseline": 4.0, "korean_finetuned": 4.4, "vcop_downstream": 6.0,
                                "multitrain": 5.0}, data="real"))
    assert text.startswith("On the MegaAge-Asian test split, baseline has the lowest MAE (4.00")
    assert "neither beats the baseline here (which also differs in its training data)" in text
    assert "synthetic" not in text


def test_best_per_column_ignores_the_reference():
    s = _summary({"baseline": 5.0, "multitrain": 4.5})
    s["reference"]["mean_predictor"]["mae"] = 1.0   # a reference never wins
    best = best_per_column(comparison_table(s))
    assert best["mae"] == "multitrain" and best["rmse"] == "multitrain"


def test_group_classification_by_hand():
    df = pd.DataFrame({"age": [5, 15, 25, 65, 70], "pred": [8, 22, 24, 55, 61]})
    acc, cm = group_classification(df)
    assert acc == pytest.approx(3 / 5)
    assert cm.loc["10-19", "20-29"] == 1 and cm.loc["60+", "50-59"] == 1 and cm.loc["60+", "60+"] == 1
    assert cm.values.sum() == 5 and cm.shape == (7, 7)


def test_consistency_warnings():
    same = {"baseline": {"preset": "demo", "data": "synthetic", "seed": 0, "test_data_hash": "a"},
            "multitrain": {"preset": "demo", "data": "synthetic", "seed": 0, "test_data_hash": "a"}}
    assert consistency_warnings(same) == []
    mixed = {**same, "vcop_downstream": {"preset": "smoke", "data": "synthetic", "seed": 0, "test_data_hash": "b"}}
    warnings = consistency_warnings(mixed)
    assert any("different presets" in w for w in warnings)
    assert any("different prepared MegaAge data" in w for w in warnings)


def test_conclusion_compares_condition_3_with_its_control():
    s = _summary({"baseline": 4.0, "korean_finetuned": 4.4, "vcop_downstream": 6.0, "multitrain": 5.0})
    s["reference"]["aihub_scratch"] = {"mae": 7.5, "rmse": 9, "r2": 0.3, "ca3": 0.2, "ca5": 0.3, "n": 100}
    text = conclusion(s)
    assert "from random weights (aihub_scratch, 7.50), order pretraining changes the MAE by -20%, so it helped" in text


def test_conclusion_does_not_call_a_small_difference():
    s = _summary({"baseline": 4.0, "korean_finetuned": 4.4, "vcop_downstream": 6.46, "multitrain": 5.0})
    s["reference"]["aihub_scratch"] = {"mae": 6.68, "rmse": 9, "r2": 0.3, "ca3": 0.2, "ca5": 0.3, "n": 100}
    assert "by -3%, too small a difference to call from one seed." in conclusion(s)
