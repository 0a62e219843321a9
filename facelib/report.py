"""The comparison report of 06_eval-all: its tables, the verdicts in words and the conclusion.
Its figures are in `plots`, its widgets in `widgets`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .config import CONDITIONS, TEST_SPLIT
from .predict import PREDICT_GROUPS, age_group

LOWER_IS_BETTER = {"mae", "rmse"}
TEST_NAMES = {"megaage_asian": "the MegaAge-Asian test split",
              "utkface_asian": "the Asian faces of UTKFace held out of training"}
# Figures the original prototype reported on the real MegaAge-Asian test set
# (shared/seeds/README.md): another implementation on real data, never ranked with ours.
ORIGINAL_FIGURES = pd.DataFrame(
    {"mae": [9.99, 8.59, 16.25, 10.72], "rmse": [12.40, 11.25, 20.40, 14.07], "r2": [0.29, 0.42, np.nan, np.nan]},
    index=list(CONDITIONS))
ORIGINAL_PRETEXT = {"top1": 0.197, "top3": 0.481, "kendall_tau": 0.421, "spearman_rho": 0.492, "exact_match": 0.197}


def comparison_table(summary: dict) -> pd.DataFrame:
    from .results import summary_table
    return summary_table(summary).astype({"n": int})


def best_per_column(table: pd.DataFrame) -> dict:
    """{metric: condition} with the best value among the four conditions (not the reference)."""
    conds = table.loc[[c for c in table.index if c in CONDITIONS]]
    return {m: (conds[m].idxmin() if m in LOWER_IS_BETTER else conds[m].idxmax())
            for m in ("mae", "rmse", "r2", "ca3", "ca5")}


def styled_comparison(table: pd.DataFrame):
    """The table with the best condition per column in bold green."""
    best = best_per_column(table)

    def highlight(col):
        return ["font-weight: bold; background-color: #d9f2d9" if best.get(col.name) == idx else "" for idx in col.index]
    return table.style.apply(highlight).format({m: "{:.3f}" for m in ("mae", "rmse", "r2", "ca3", "ca5")})


def interval_table(summary: dict) -> pd.DataFrame:
    """Per condition (and the control): MAE over seeds, its 95% interval, each seed's MAE, and
    whether it beats always predicting its training mean."""
    runs = {**summary["conditions"], **{k: v for k, v in summary["reference"].items() if "mae_ci95" in v}}
    return pd.DataFrame({c: {"mae": m["mae"], "ci95 low": m["mae_ci95"][0], "ci95 high": m["mae_ci95"][1],
                             "mae per seed": ", ".join(f"{v:.2f}" for v in m["mae_seeds"]),
                             "mean predictor mae": m["mean_predictor_mae"],
                             "beats mean predictor": m["beats_mean_predictor"],
                             "own validation mae": m.get("val_mae", np.nan),
                             "validated on": m.get("val_dataset", "")} for c, m in runs.items()}).T


def comparisons_table(summary: dict) -> pd.DataFrame:
    """Every comparison: the faces it is measured on, MAE(a) − MAE(b), its paired 95% interval, the
    verdict, and per-seed wins; on the test split, then on the identities' own held-out people."""
    test = "test: " + "/".join(TEST_SPLIT[summary.get("test_set", "megaage_asian")])
    return pd.DataFrame([{"faces": c.get("split", test), "a": c["a"], "b": c["b"],
                          "mae(a) - mae(b)": round(c["mae_diff"], 3),
                          "ci95": f"[{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}]", "verdict": c["verdict"],
                          "seeds where a is lower": f"{c['seeds_a_better']} of {c['seeds']}"}
                         for c in summary.get("comparisons", []) + summary.get("comparisons_own_val", [])])


def budget_table(summary: dict) -> pd.DataFrame:
    """Images seen, epochs, optimizer steps and wall seconds of every run, means over seeds."""
    return pd.DataFrame(summary.get("budget", {})).T.astype({"images_seen": int, "epochs": int, "steps": int}).round(1)


def _diff(c: dict) -> str:
    lo, hi = c["ci95"]
    f = "{:+.3f}" if max(abs(lo), abs(hi)) < 0.1 else "{:+.2f}"
    return f"{f.format(c['mae_diff'])} years, 95% CI {f.format(lo)} to {f.format(hi)}"


def _seeds_disagree(c: dict) -> bool:
    wins = c.get("seeds_a_better", 0)
    return c.get("seeds", 1) > 1 and 0 < wins < c["seeds"]


def _said(c: dict) -> str:
    """One comparison in words, from its verdict alone."""
    a, b = c["a"], c["b"]
    if c["verdict"] == "a better":
        text = f"{a} has a lower MAE than {b} ({_diff(c)})"
    elif c["verdict"] == "b better":
        text = f"{a} has a higher MAE than {b} ({_diff(c)})"
    else:
        text = f"no difference between {a} and {b} is shown ({_diff(c)}: the interval includes 0)"
    if c.get("seeds", 1) > 1:
        text += f"; {a} was lower in {c['seeds_a_better']} of {c['seeds']} seeds"
    return text


def conclusion(summary: dict) -> str:
    """The study's answer in a paragraph, stating a difference only where a comparison's verdict
    shows one (its 95% interval excludes 0), saying plainly which conditions are no better than
    predicting the training mean, and, with one seed, that seed variance is not in the intervals."""
    conds = summary["conditions"]
    seeds = summary.get("seeds", [0])
    data = summary.get("data")
    n = next(iter(conds.values()))["n"]
    test = TEST_NAMES.get(summary.get("test_set", "megaage_asian"))
    where = f"{test} ({'synthetic faces, ' if data == 'synthetic' else ''}n = {n})"
    parts = [f"On {where}, over {len(seeds)} model seed{'s' if len(seeds) > 1 else ''}: "
             + ", ".join(f"{c} {m['mae']:.2f}" + (f" [{m['mae_ci95'][0]:.2f}, {m['mae_ci95'][1]:.2f}]"
                                                 if "mae_ci95" in m else "") for c, m in conds.items())
             + " years MAE (95% intervals in brackets)."]
    ref = summary.get("reference", {})
    if "mean_predictor" in ref:
        parts.append(f"Always predicting the training mean gives {ref['mean_predictor']['mae']:.2f}.")
    worse = [c for c, m in {**conds, **{k: v for k, v in ref.items() if k == "aihub_scratch"}}.items()
             if m.get("beats_mean_predictor") is False]
    if worse:
        parts.append(f"{', '.join(worse)} {'is' if len(worse) == 1 else 'are'} no better than predicting "
                     f"the mean age of {'its' if len(worse) == 1 else 'their'} own training labels.")
    comps = summary.get("comparisons", [])
    vs_base = [c for c in comps if c["b"] == "baseline"]
    if vs_base:
        parts.append("Against the baseline: " + "; ".join(_said(c) for c in vs_base)
                     + ". Conditions 3 and 4 also differ from the baseline in their training data, so these "
                       "differences are not the order task's alone.")
    control = [c for c in comps if c["b"] == "aihub_scratch"]
    identities = {"aihub": "AIHub", "fgnet": "FG-NET"}.get(summary.get("identities", "aihub"))
    if identities != "AIHub":
        parts.append(f"{identities} played the identities role of AIHub (the order task and the fine-tuning "
                     "of conditions 2-4 and the control).")
    if control:
        parts.append("Against the same fine-tuning without order pretraining (aihub_scratch, the same data and "
                     "number of labelled images): " + "; ".join(_said(c) for c in control) + ".")
        main = next((c for c in control if c["a"] == "vcop_downstream"), None)
        if main is not None and main["verdict"] != "no difference shown" and _seeds_disagree(main):
            parts.append("The interval excludes 0, but the seeds disagree on the sign, so this difference does not "
                         "survive a change of model seed: no conclusion on order pretraining.")
        elif main is not None:
            here = "Here" if len(seeds) > 1 else "With this one seed"
            parts.append({"a better": f"{here}, order pretraining helped.",
                          "b better": f"{here}, order pretraining hurt.",
                          }.get(main["verdict"], "Whether order pretraining helps is not shown by this run."))
    own = summary.get("comparisons_own_val", [])
    if own:
        parts.append(f"On {identities}'s own held-out people ({own[0]['split']}), the faces this fine-tuning "
                     "is fitted to: " + "; ".join(_said(c) for c in own) + ".")
    curve = summary.get("label_efficiency")
    if curve:
        shown = [f"{c['fraction']:.0%}: {c['verdict'].replace('a better', 'pretraining better').replace('b better', 'control better')}"
                 for c in curve["comparisons"]]
        parts.append("By share of fine-tuning labels (condition 3 against its control): " + ", ".join(shown) + ".")
    if "pretext" in summary:
        p = summary["pretext"]
        parts.append(f"The pretext model orders tuples of unseen people with top-1 {p['top1']:.2f} "
                     f"(chance {p['chance_top1']:.2f}) and Kendall tau {p['kendall_tau']:.2f}.")
    if len(seeds) == 1:
        parts.append("With one model seed the intervals cover the sampling of test faces only, not seed-to-seed "
                     "variance, which can be as large as the differences: run with several seeds "
                     "(`facelib run --seeds 0,1,2`) before drawing a conclusion.")
    else:
        parts.append("Comparison intervals resample test faces (pooled over seeds); the per-seed counts show how "
                     "consistent each difference is across seeds.")
    if data == "synthetic":
        parts.append("These faces are synthetic: the numbers show that the pipeline works and how the conditions "
                     "behave on drawn faces, not how they behave on real photographs.")
    return " ".join(parts)


def conclusion_markdown(summary: dict) -> str:
    """conclusion.md: every warning about the results (stale files, mixed data, presets or seeds)
    above the conclusion, so that nobody reads the one without the other."""
    warnings = summary.get("warnings", [])
    head = "".join(f"> **Warning:** {w}\n>\n" for w in warnings)
    return (head + "\n" if head else "") + conclusion(summary) + "\n"


def load_predictions(results: dict, root) -> dict:
    return {c: pd.read_csv(Path(root) / results[c]["predictions"]) for c in CONDITIONS
            if c in results and results[c].get("predictions") and (Path(root) / results[c]["predictions"]).exists()}


# ---------------------------------------------------------------- tables

def group_classification(df: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    """Accuracy and confusion matrix (rows true, columns predicted) of the age group derived
    from a regressor's predictions (0–9, …, 50–59, 60+)."""
    labels = [age_group(lo) for lo, _ in PREDICT_GROUPS]
    true = df["age"].map(age_group)
    pred = df["pred"].map(age_group)
    cm = pd.crosstab(pd.Categorical(true, labels), pd.Categorical(pred, labels), dropna=False)
    cm.index.name, cm.columns.name = "true", "predicted"
    return float((true == pred).mean()), cm


def pretext_table(pretext: dict) -> pd.DataFrame:
    keys = ["top1", "top3", "exact_match", "kendall_tau", "spearman_rho"]
    chance = {"top1": pretext["chance_top1"], "top3": pretext.get("chance_top3", np.nan),
              "exact_match": pretext["chance_top1"], "kendall_tau": 0.0, "spearman_rho": 0.0}
    return pd.DataFrame({"this run": [pretext[k] for k in keys], "chance": [chance[k] for k in keys],
                         "original (real data)": [ORIGINAL_PRETEXT[k] for k in keys]}, index=keys)
