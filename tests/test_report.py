"""The comparison report: a conclusion that states only what the verdicts show, tables, derived groups."""
import pandas as pd
import pytest

from facelib.reporting.report import (best_per_column, comparison_table, comparisons_table, conclusion, conclusion_markdown,
                            group_classification, interval_table)


def _cond(mae, lo, hi, beats=True):
    return {"mae": mae, "rmse": mae + 2, "r2": 0.5, "ca3": 0.3, "ca5": 0.4, "n": 100, "mae_seeds": [mae],
            "mae_ci95": [lo, hi], "beats_mean_predictor": beats, "mean_predictor_mae": 14.0}


def _cmp(a, b, diff, lo, hi, verdict, wins=1, seeds=1):
    return {"a": a, "b": b, "mae_diff": diff, "ci95": [lo, hi], "verdict": verdict, "seeds_a_better": wins,
            "seeds": seeds}


def _summary(seeds=(0,), data="synthetic", comparisons=(), beats=True):
    conds = {"baseline": _cond(5.0, 4.6, 5.4), "korean_finetuned": _cond(4.0, 3.7, 4.3),
             "vcop_downstream": _cond(6.0, 5.5, 6.5, beats), "multitrain": _cond(4.5, 4.1, 4.9)}
    return {"preset": "demo", "data": data, "seeds": list(seeds), "conditions": conds,
            "reference": {"mean_predictor": {"mae": 14.0, "rmse": 16, "r2": 0.0, "ca3": 0.1, "ca5": 0.2, "n": 100},
                          "aihub_scratch": _cond(6.5, 6.0, 7.0)},
            "comparisons": list(comparisons),
            "pretext": {"top1": 0.36, "top3": 0.67, "exact_match": 0.36, "kendall_tau": 0.63, "spearman_rho": 0.7,
                        "chance_top1": 1 / 24}, "warnings": []}


def test_a_difference_is_stated_only_where_the_verdict_shows_one():
    s = _summary(seeds=(0, 1, 2), comparisons=[
        _cmp("korean_finetuned", "baseline", -1.0, -1.4, -0.6, "a better", 3, 3),
        _cmp("vcop_downstream", "baseline", 1.0, -0.1, 2.1, "no difference shown", 1, 3),
        _cmp("vcop_downstream", "aihub_scratch", -0.5, -0.9, 0.2, "no difference shown", 2, 3),
        _cmp("vcop_downstream", "supervised_downstream", -0.4, -0.8, 0.1, "no difference shown", 2, 3)])
    text = conclusion(s)
    assert "korean_finetuned has a lower MAE than baseline (-1.00 years, 95% CI -1.40 to -0.60)" in text
    assert "korean_finetuned was lower in 3 of 3 seeds" in text
    assert "no difference between vcop_downstream and baseline is shown" in text
    assert "no difference between vcop_downstream and aihub_scratch is shown" in text
    assert "That order pretraining helps is not shown by these runs" in text
    assert "helped" not in text and "hurt" not in text


def test_ordering_helps_only_where_condition_3_beats_both_controls():
    def text(v_scratch, v_sup):
        return conclusion(_summary(seeds=(0, 1, 2, 3, 4), comparisons=[
            _cmp("vcop_downstream", "aihub_scratch", -0.5, -0.9, -0.1 if v_scratch == "a better" else 0.2,
                 v_scratch, 5, 5),
            _cmp("vcop_downstream", "supervised_downstream", -0.5, -0.9, -0.1 if v_sup == "a better" else 0.2,
                 v_sup, 5, 5)]))
    both = text("a better", "a better")
    assert "condition 3 beat both controls: order pretraining helped beyond the age labels" in both
    assert "over 5 seeds" in both
    scratch_only = text("a better", "no difference shown")
    assert "beat the no-pretraining control but neither beat the supervised control nor was shown equivalent" in \
        scratch_only
    assert "that it helped because of ordering is not shown either way" in scratch_only
    assert "helped beyond" not in scratch_only
    assert "supervised_downstream" in text("no difference shown", "no difference shown")
    hurt = conclusion(_summary(seeds=(0, 1, 2), comparisons=[
        _cmp("vcop_downstream", "aihub_scratch", 0.5, 0.1, 0.9, "b better", 0, 3),
        _cmp("vcop_downstream", "supervised_downstream", 0.1, -0.2, 0.4, "no difference shown", 1, 3)]))
    assert "condition 3 did worse than aihub_scratch: that ordering helps is not shown" in hurt
    mixed = conclusion(_summary(seeds=(0, 1, 2), comparisons=[
        _cmp("vcop_downstream", "aihub_scratch", -0.5, -0.9, -0.1, "a better", 3, 3),
        _cmp("vcop_downstream", "supervised_downstream", 0.5, 0.1, 0.9, "b better", 0, 3)]))
    assert "did worse than supervised_downstream (it beat aihub_scratch): that ordering helps is not shown" in mixed


def test_fewer_than_three_seeds_state_no_difference_and_say_why():
    s = _summary(seeds=(0, 1), comparisons=[_cmp("korean_finetuned", "baseline", -1.0, -1.4, -0.6, "no difference shown",
                                                 2, 2)])
    text = conclusion(s)
    assert "With 2 model seeds, no difference between any two runs is stated" in text
    assert "lower MAE" not in text and "higher MAE" not in text and "helped" not in text
    assert "With 1 model seed, no difference" in conclusion(_summary(seeds=(0,)))


def test_the_protocol_choices_are_named():
    s = _summary(seeds=(0, 1, 2))
    s["protocol"] = {"utkface_share": 0.5, "utkface_share_rule": "fixed before any test result",
                     "multitrain_share_encoder": True, "identity_splits": "a new split of the identities' people"}
    text = conclusion(s)
    assert "with 50% of each epoch's faces from UTKFace (rehearsal; fixed before any test result)" in text
    assert "condition 4 shares one encoder between its order and age heads (the original used two" in text
    assert "each model seed drew its own split of the identities' people" in text
    assert "chosen on validation splits" in text


def test_no_better_than_the_mean_is_said_plainly():
    text = conclusion(_summary(beats=False))
    assert "vcop_downstream is not shown to beat predicting the mean age of its own training labels" in text


def test_synthetic_data_is_named_and_real_data_is_not_called_synthetic():
    assert "synthetic faces, n = 100" in conclusion(_summary())
    assert "synthetic" not in conclusion(_summary(data="real"))


def test_warnings_come_above_the_conclusion():
    s = _summary()
    s["warnings"] = ["seed 0: outputs/seed0/results/baseline.json left out: it was trained on other data"]
    md = conclusion_markdown(s)
    assert md.startswith("> **Warning:** seed 0: outputs/seed0/results/baseline.json left out")
    assert md.index("Warning") < md.index("On the MegaAge-Asian test split")
    assert "intervals over the test faces only" in md                    # one seed: not over trained models
    assert "intervals over trained models" in conclusion_markdown(_summary(seeds=(0, 1, 2)))


def test_tables():
    s = _summary(comparisons=[_cmp("korean_finetuned", "baseline", -1.0, -1.4, -0.6, "a better", 3, 3)])
    it = interval_table(s)
    assert list(it.index) == ["baseline", "korean_finetuned", "vcop_downstream", "multitrain", "aihub_scratch"]
    assert it.loc["baseline", "ci95 low"] == 4.6 and it.loc["vcop_downstream", "beats mean predictor"]
    s["comparisons_heldout"] = [{**_cmp("vcop_downstream", "aihub_scratch", 0.5, 0.1, 0.9, "b better", 0, 3),
                                 "split": "fgnet/heldout"}]
    ct = comparisons_table(s)
    assert ct.iloc[0]["verdict"] == "a better" and ct.iloc[0]["seeds where a is lower"] == "3 of 3"
    assert list(ct["faces"]) == ["test: megaage_asian/test", "fgnet/heldout"]
    assert ct.iloc[1]["verdict"] == "b better"
    one_seed = {**_cmp("vcop_downstream", "baseline", 2.3, 1.8, 2.8, "no difference shown", 0, 1),
                "why": "1 model seed: at least 3 are needed"}     # the interval excludes 0: still no verdict
    assert comparisons_table({**s, "comparisons": [one_seed], "comparisons_heldout": []}).iloc[0]["verdict"] == \
        "no verdict (1 seed)"


def test_best_per_column_ignores_the_reference():
    s = _summary()
    s["reference"]["mean_predictor"]["mae"] = 1.0   # a reference never wins
    best = best_per_column(comparison_table(s))
    assert best["mae"] == "korean_finetuned" and best["rmse"] == "korean_finetuned"


def test_group_classification_by_hand():
    df = pd.DataFrame({"age": [5, 15, 25, 65, 70], "pred": [8, 22, 24, 55, 61]})
    acc, cm = group_classification(df)
    assert acc == pytest.approx(2 / 5)
    assert cm.loc["10-19", "20-29"] == 1 and cm.loc["60-69", "50-59"] == 1 and cm.loc["70+", "60-69"] == 1
    assert cm.values.sum() == 5 and cm.shape == (8, 8)


def _primary(a, b, diff, lo, hi, verdict, lo90, hi90, equivalence, seeds=5):
    return {**_cmp(a, b, diff, lo, hi, verdict, 3, seeds), "role": "primary", "ci90": [lo90, hi90],
            "equivalence": equivalence, "margin": 0.5,
            "power_at_margin": {"find_difference": 0.21, "show_equivalence": 0.4, "margin": 0.5}}


def test_equivalence_to_the_supervised_control_is_said_beside_the_verdict_never_in_its_place():
    s = _summary(seeds=(0, 1, 2, 3, 4), comparisons=[
        _primary("vcop_downstream", "aihub_scratch", -1.0, -1.5, -0.5, "a better", -1.4, -0.6, "not shown equivalent"),
        _primary("vcop_downstream", "supervised_downstream", 0.1, -0.3, 0.4, "no difference shown", -0.2, 0.3,
                 "equivalent within ±0.5 y"),
        _primary("supervised_downstream", "aihub_scratch", -1.1, -1.6, -0.6, "a better", -1.5, -0.7,
                 "not shown equivalent")])
    text = conclusion(s)
    assert ("no difference between vcop_downstream and supervised_downstream is shown (+0.10 years, 95% CI -0.30 to "
            "+0.40: the interval includes 0); equivalent within ±0.5 years (90% CI -0.20 to +0.30)") in text
    assert "supervised_downstream has a lower MAE than aihub_scratch" in text
    assert "it was equivalent to the supervised control within ±0.5 years: ordering did neither better nor worse " \
        "than age regression on the same photos by more than 0.5 years" in text
    assert "found 21% of the time, and identical recipes shown equivalent 40%" in text
    s["comparisons"][1].update(ci95=[-0.3, 0.7], ci90=[-0.2, 0.6], equivalence="not shown equivalent")
    text = conclusion(s)
    assert "neither beat the supervised control nor was shown equivalent to it within ±0.5 years" in text
    assert "not shown equivalent within ±0.5 years (90% CI -0.20 to +0.60)" in text


def test_no_pretraining_verdict_from_arms_that_do_not_beat_the_mean_predictor():
    from facelib.reporting.results import withhold
    c = _primary("vcop_downstream", "aihub_scratch", -1.0, -1.5, -0.5, "a better", -1.4, -0.6, "not shown equivalent")
    kept = withhold(c, [], "aaf/val")
    assert kept == c                                                   # arms that beat it keep their verdict
    gone = withhold(c, ["vcop_downstream", "aihub_scratch"], "aaf/val")
    assert gone["verdict"] == gone["equivalence"] == "withheld" and gone["interval_verdict"] == "a better"
    assert gone["withheld"].startswith("vcop_downstream and aihub_scratch are not shown to beat predicting the mean "
                                       "age of their own training labels on aaf/val")
    assert gone["mae_diff"] == c["mae_diff"] and gone["ci95"] == c["ci95"]  # the numbers stay
    assert withhold({**c, "seeds": 2}, ["vcop_downstream"], "aaf/val")["verdict"] == "a better"  # no verdict to withhold
    s = _summary(seeds=(0, 1, 2), comparisons=[gone, _primary("vcop_downstream", "supervised_downstream", 0.1, -0.3,
                                                              0.4, "no difference shown", -0.2, 0.3,
                                                              "equivalent within ±0.5 y", seeds=3)])
    text = conclusion(s)
    assert "No answer about pretraining on this split: vcop_downstream and aihub_scratch are not shown" in text
    assert "vcop_downstream against aihub_scratch: no verdict" in text
    assert "beat both controls" not in text and "equivalent to the supervised control" not in text
    row = comparisons_table(s).iloc[0]
    assert row["verdict"] == "withheld" and "not shown to beat" in row["why withheld"]
