"""The comparison report of 06_eval-all: its tables, the verdicts in words and the conclusion.
Its figures are in `plots`, its widgets in `widgets`."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .config import CONDITIONS, CONTROL, CONTROLS, IDENTITY_NAMES, SUPERVISED_CONTROL, TEST_NAMES, TEST_SPLIT
from .metrics import AGE_GROUPS, age_group, group_label
from .stats import MIN_SEEDS

LOWER_IS_BETTER = {"mae", "rmse"}
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
    """{metric: condition} with the lowest error (highest score) among the four conditions (not the
    reference); whether it differs from the others is the verdicts' business, not this table's."""
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
    """Per condition (and the controls): MAE over seeds, its 95% interval over trained models, each
    seed's MAE, whether it beats always predicting its training mean, its own validation and
    held-out MAE, and the backbone multiplier each seed kept."""
    runs = {**summary["conditions"], **{k: v for k, v in summary["reference"].items() if "mae_ci95" in v}}
    return pd.DataFrame({c: {"mae": m["mae"], "ci95 low": m["mae_ci95"][0], "ci95 high": m["mae_ci95"][1],
                             "mae per seed": ", ".join(f"{v:.2f}" for v in m["mae_seeds"]),
                             "mean predictor mae": m["mean_predictor_mae"],
                             "beats mean predictor": m["beats_mean_predictor"],
                             "own validation mae": m.get("val_mae", np.nan),
                             "held-out people mae": m.get("heldout_mae", np.nan),
                             "backbone lr mult per seed": ", ".join(f"{v:g}" for v in m.get("backbone_lr_mult_seeds", []))}
                         for c, m in runs.items()}).T


def comparisons_table(summary: dict) -> pd.DataFrame:
    """Every comparison: the faces it is measured on, MAE(a) − MAE(b), its 95% interval over trained
    models, the verdict, and per-seed wins; on the test split, then on the identities' held-out people."""
    test = "test: " + "/".join(TEST_SPLIT[summary.get("test_set", "megaage_asian")])
    return pd.DataFrame([{"faces": c.get("split", test), "a": c["a"], "b": c["b"],
                          "mae(a) - mae(b)": round(c["mae_diff"], 3),
                          "ci95": f"[{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}]", "verdict": c["verdict"],
                          "seeds where a is lower": f"{c['seeds_a_better']} of {c['seeds']}"}
                         for c in summary.get("comparisons", []) + summary.get("comparisons_heldout", [])])


def budget_table(summary: dict) -> pd.DataFrame:
    """Images seen, epochs, optimizer steps and wall seconds of every run, means over seeds."""
    return pd.DataFrame(summary.get("budget", {})).T.astype({"images_seen": int, "epochs": int, "steps": int}).round(1)


def protocol_table(summary: dict) -> pd.DataFrame:
    """What each run was trained with and what chose its epoch and settings (never the test split)."""
    p = summary.get("protocol", {})
    rows = {}
    for name, t in p.get("training", {}).items():
        sel = p.get("selection", {}).get(name, {})
        mults = p.get("backbone_lr_mult", {}).get(name)
        rows[name] = {"epochs": t.get("epochs"), "early stopping": p.get("early_stopping", {}).get(name),
                      "batch": t.get("batch_size"), "lr": t.get("lr"), "loss": t.get("loss") or p.get("order_loss"),
                      "backbone lr mult": (", ".join(f"{v:g}" for v in mults.values()) + " (chosen per seed)") if mults
                      else p.get("fixed_backbone_lr_mult", {}).get(name, 1.0),
                      "epoch chosen by": sel.get("epoch", "")}
    return pd.DataFrame(rows).T


def _diff(c: dict) -> str:
    lo, hi = c["ci95"]
    f = "{:+.3f}" if max(abs(lo), abs(hi)) < 0.1 else "{:+.2f}"
    return f"{f.format(c['mae_diff'])} years, 95% CI {f.format(lo)} to {f.format(hi)}"


def _said(c: dict) -> str:
    """One comparison in words, from its verdict alone, with its seed count."""
    a, b = c["a"], c["b"]
    seeds = c.get("seeds", 1)
    if c["verdict"] == "a better":
        text = f"{a} has a lower MAE than {b} ({_diff(c)})"
    elif c["verdict"] == "b better":
        text = f"{a} has a higher MAE than {b} ({_diff(c)})"
    else:
        text = f"no difference between {a} and {b} is shown ({_diff(c)}: the interval includes 0)"
    return text + f"; {a} was lower in {c['seeds_a_better']} of {seeds} seed{'s' if seeds != 1 else ''}"


def _ordering_verdict(summary: dict, comps: list[dict]) -> str:
    """What condition 3 against both controls says about the order task itself."""
    got = {c["b"]: c["verdict"] for c in comps if c["a"] == "vcop_downstream"}
    n = len(summary.get("seeds", []))
    if CONTROL not in got:
        return ""
    if SUPERVISED_CONTROL not in got:
        return ("The supervised control (pretrained by age regression on the same pretext people and photos) was "
                "not run, so whether ordering itself helps is not tested here.")
    if got[CONTROL] == "a better" and got[SUPERVISED_CONTROL] == "a better":
        return (f"Here, over {n} seeds, condition 3 beat both controls: order pretraining helped beyond the "
                "age labels its tuples are built from.")
    if "b better" in got.values():
        worse = " and ".join(k for k, v in got.items() if v == "b better")
        beat = " (it beat aihub_scratch)" if got[CONTROL] == "a better" else ""
        return (f"Here, over {n} seeds, condition 3 did worse than {worse}{beat}: that ordering helps is not "
                "shown.")
    if got[CONTROL] == "a better":
        return (f"Here, over {n} seeds, condition 3 beat the no-pretraining control but not the supervised "
                "control: pretraining on the pretext people helped, but not shown to be because of ordering.")
    return "That order pretraining helps is not shown by these runs: condition 3 did not beat both controls."


def _protocol_sentence(summary: dict) -> str:
    p = summary.get("protocol", {})
    parts = ["Protocol: every epoch and backbone learning-rate multiplier was chosen on validation splits; "
             "the test split was read once per trained run"]
    share = p.get("utkface_share")
    if share:
        parts.append(f"conditions 2-4 and the controls were fine-tuned with {share:.0%} of each epoch's faces "
                     f"from UTKFace (rehearsal; {p.get('utkface_share_rule', '')})")
    if p.get("multitrain_share_encoder") is True:
        parts.append("condition 4 shares one encoder between its order and age heads (the original used two "
                     "independent encoders)")
    elif p.get("multitrain_share_encoder") is False:
        parts.append("condition 4 uses two independent encoders, as the original did")
    if p.get("identity_splits", "").startswith("a new split"):
        parts.append("each model seed drew its own split of the identities' people")
    return "; ".join(parts) + "."


def conclusion(summary: dict) -> str:
    """The study's answer in a paragraph: a difference only where a comparison's verdict shows one
    (its interval over trained models excludes 0, with at least 3 seeds), condition 3 against both
    controls, the conditions no better than predicting the training mean, and the protocol choices
    that change what a condition means."""
    conds = summary["conditions"]
    seeds = summary.get("seeds", [0])
    data = summary.get("data")
    n = next(iter(conds.values()))["n"]
    test = TEST_NAMES.get(summary.get("test_set", "megaage_asian"))
    where = f"{test} ({'synthetic faces, ' if data == 'synthetic' else ''}n = {n})"
    parts = [f"On {where}, over {len(seeds)} model seed{'s' if len(seeds) > 1 else ''}: "
             + ", ".join(f"{c} {m['mae']:.2f}" + (f" [{m['mae_ci95'][0]:.2f}, {m['mae_ci95'][1]:.2f}]"
                                                 if "mae_ci95" in m else "") for c, m in conds.items())
             + (" years MAE (95% intervals over trained models in brackets)." if len(seeds) > 1 else
                " years MAE (95% intervals over the test faces only, in brackets: one model seed says nothing of "
                "how a model trained again varies).")]
    ref = summary.get("reference", {})
    if "mean_predictor" in ref:
        parts.append(f"Always predicting the training mean gives {ref['mean_predictor']['mae']:.2f}.")
    worse = [c for c, m in {**conds, **{k: v for k, v in ref.items() if k in CONTROLS}}.items()
             if m.get("beats_mean_predictor") is False]
    if worse:
        parts.append(f"{', '.join(worse)} {'is' if len(worse) == 1 else 'are'} not shown to beat predicting "
                     f"the mean age of {'its' if len(worse) == 1 else 'their'} own training labels.")
    identities = IDENTITY_NAMES.get(summary.get("identities", "aihub"))
    if identities != "AIHub":
        parts.append(f"{identities} played the identities role of AIHub (the order task and the fine-tuning "
                     "of conditions 2-4 and the controls).")
    comps = summary.get("comparisons", [])
    if all(c in ref for c in CONTROLS):
        parts.append("Condition 3 is compared with two controls fine-tuned exactly as it is: aihub_scratch (from "
                     "the weights its pretext model started from: no pretraining) and supervised_downstream (from "
                     "an encoder pretrained by plain age regression on the same pretext people and photos); order "
                     "pretraining helps because of ordering only where condition 3 beats both.")
    if len(seeds) < MIN_SEEDS:
        parts.append(f"With {len(seeds)} model seed{'s' if len(seeds) != 1 else ''}, no difference between any two "
                     f"runs is stated: at least {MIN_SEEDS} are needed to estimate how much a model trained again "
                     "varies, which is what a verdict about a recipe rests on (`facelib run --seeds 0,1,2,3,4`).")
    else:
        vs_base = [c for c in comps if c["b"] == "baseline"]
        if vs_base:
            parts.append("Against the baseline: " + "; ".join(_said(c) for c in vs_base)
                         + ". Conditions 3 and 4 also differ from the baseline in their training data, so these "
                           "differences are not the order task's alone.")
        control = [c for c in comps if c["b"] in CONTROLS]
        if control:
            parts.append("Against the controls: " + "; ".join(_said(c) for c in control) + "."
                         + (" The controls were built for condition 3; multitrain's comparisons with them are "
                            "indicative only." if any(c["a"] == "multitrain" for c in control) else ""))
            parts.append(_ordering_verdict(summary, control))
        held = summary.get("comparisons_heldout", [])
        if held:
            parts.append(f"Secondary, not adjusted for multiple comparisons: on {identities}'s held-out people "
                         f"({held[0]['split']}, never trained on or used to choose anything): "
                         + "; ".join(_said(c) for c in held) + ".")
        curve = summary.get("label_efficiency")
        if curve:
            shown = [f"{c['fraction']:.0%} against {c['b']}: "
                     + c["verdict"].replace("a better", "condition 3 better").replace("b better", f"{c['b']} better")
                     for c in curve["comparisons"]]
            parts.append("Secondary, by share of fine-tuning labels: " + "; ".join(shown) + ".")
    if "pretext" in summary:
        p = summary["pretext"]
        parts.append(f"The pretext model orders tuples of unseen people with top-1 {p['top1']:.2f} "
                     f"(chance {p['chance_top1']:.2f}) and Kendall tau {p['kendall_tau']:.2f}.")
    parts.append(_protocol_sentence(summary))
    if len(seeds) > 1:
        parts.append("Intervals are t-intervals over model seeds with the sampling variance of the test faces "
                     "added (clustered by person where the test set names people; otherwise each face, or "
                     "group of near-identical photos, is its own cluster).")
    if data == "synthetic":
        parts.append("These faces are synthetic: the numbers show that the pipeline works and how the conditions "
                     "behave on drawn faces, not how they behave on real photographs.")
    return " ".join(p for p in parts if p)


def conclusion_markdown(summary: dict) -> str:
    """conclusion.md: every warning about the results (files left out, other seeds) above the
    conclusion, so that nobody reads the one without the other."""
    warnings = summary.get("warnings", [])
    head = "".join(f"> **Warning:** {w}\n>\n" for w in warnings)
    return (head + "\n" if head else "") + conclusion(summary) + "\n"


def load_predictions(results: dict, paths, names=CONDITIONS) -> dict:
    """{run: its test predictions} of the named runs in one seed's (filtered) results."""
    return {c: pd.read_csv(paths.abs(results[c]["predictions"]), keep_default_na=False) for c in names
            if c in results and results[c].get("predictions") and paths.abs(results[c]["predictions"]).exists()}


# ---------------------------------------------------------------- tables

def group_classification(df: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    """Accuracy and confusion matrix (rows true, columns predicted) of the age group derived
    from a regressor's predictions (`metrics.AGE_GROUPS`: 0–9, …, 60–69, 70+)."""
    labels = [group_label(lo, hi) for lo, hi in AGE_GROUPS]
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
