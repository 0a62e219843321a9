"""The comparison report of 06_eval-all: its tables, the verdicts in words and the conclusion.
Its figures are in `plots`, its widgets in `widgets`."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import (
    CONDITIONS,
    CONTROL,
    CONTROLS,
    IDENTITY_NAMES,
    SUPERVISED_CONTROL,
    TEST_NAMES,
    TEST_SPLIT,
)
from ..study.metrics import AGE_GROUPS, age_group, group_label
from .results import AGE_LOSS_NAMES, WITHHELD, role, summary_table, verdict_shown
from .stats import MIN_SEEDS

LOWER_IS_BETTER = {"mae", "rmse"}
# Figures the original prototype's README reported on the real MegaAge-Asian test set (docs/design.md):
# another implementation on real data, never ranked with ours.
ORIGINAL_FIGURES = pd.DataFrame(
    {"mae": [9.99, 8.59, 16.25, 10.72], "rmse": [12.40, 11.25, 20.40, 14.07], "r2": [0.29, 0.42, np.nan, np.nan]},
    index=list(CONDITIONS))
ORIGINAL_PRETEXT = {"top1": 0.197, "top3": 0.481, "kendall_tau": 0.421, "spearman_rho": 0.492, "exact_match": 0.197}


def comparison_table(summary: dict) -> pd.DataFrame:
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
    runs = {**summary["conditions"], **{k: v for k, v in summary["reference"].items() if "mae_ci95" in v},
            **summary.get("sensitivity", {}).get("arms", {})}
    return pd.DataFrame({c: {"mae": m["mae"], "ci95 low": m["mae_ci95"][0], "ci95 high": m["mae_ci95"][1],
                             "mae per seed": ", ".join(f"{v:.2f}" for v in m["mae_seeds"]),
                             "mean predictor mae": m["mean_predictor_mae"],
                             "beats mean predictor": m["beats_mean_predictor"],
                             "own validation mae": m.get("val_mae", np.nan),
                             "held-out people mae": m.get("heldout_mae", np.nan),
                             "held-out mean predictor mae": m.get("heldout_mean_predictor_mae", np.nan),
                             "backbone lr mult per seed": ", ".join(f"{v:g}" for v in m.get("backbone_lr_mult_seeds", []))}
                         for c, m in runs.items()}).T


def comparisons_table(summary: dict) -> pd.DataFrame:
    """Every comparison: its role (primary, secondary, sensitivity), the faces it is measured on,
    MAE(a) − MAE(b), its 95% interval over trained models, the verdict, the equivalence reading (its
    90% interval against ±margin), and per-seed wins; on the test split, then on the identities'
    held-out people, then the fixed-epoch sensitivity arm. A withheld verdict says why."""
    comps = (summary.get("comparisons", []) + summary.get("comparisons_heldout", [])
             + summary.get("sensitivity", {}).get("comparisons", []))
    test = "test: " + "/".join(TEST_SPLIT[summary.get("test_set", "megaage_asian")])
    return pd.DataFrame([{"role": c.get("role") or role(c["a"], c["b"]), "faces": c.get("split", test), "a": c["a"],
                          "b": c["b"],
                          "mae(a) - mae(b)": round(c["mae_diff"], 3),
                          "ci95": f"[{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}]", "verdict": verdict_shown(c),
                          "equivalence": c.get("equivalence", ""),
                          "ci90": f"[{c['ci90'][0]:+.3f}, {c['ci90'][1]:+.3f}]" if "ci90" in c else "",
                          "seeds where a is lower": f"{c['seeds_a_better']} of {c['seeds']}",
                          "why withheld": c.get("withheld", "")}
                         for c in comps])


def budget_frame(summary: dict) -> pd.DataFrame:
    """Images seen, epochs, optimizer steps and wall seconds of every run, and the epoch, images and
    steps behind the weights it kept, means over seeds."""
    table = pd.DataFrame({n: {k: v for k, v in b.items() if k != "kept_epoch_seeds"}
                          for n, b in summary.get("budget", {}).items()}).T
    return table.round(1)


def probes_frame(summary: dict) -> pd.DataFrame:
    """Every frozen-encoder probe: per probe, faces it was fitted on and encoder, its MAE on the test
    split and the held-out people (with intervals over seeds) beside the mean predictor of its training
    ages."""
    p = summary.get("probes", {})
    rows = []
    for key, entry in p.get("probes", {}).items():
        for e in p["encoders"]:
            t, h = entry["test"]["encoders"][e], entry["heldout"]["encoders"][e]
            rows.append({"probe": key, "encoder": e, "test mae": round(t["mae"], 3),
                         "test ci95": f"[{t['mae_ci95'][0]:.2f}, {t['mae_ci95'][1]:.2f}]",
                         "test mean predictor": round(t["mean_predictor_mae"], 3),
                         "beats it": t["beats_mean_predictor"], "held-out mae": round(h["mae"], 3),
                         "held-out mean predictor": round(h["mean_predictor_mae"], 3),
                         "setting per seed": ", ".join(str({k: v for k, v in st.items() if k != "val_mae_by_setting"})
                                                       for st in entry["settings"][e])})
    return pd.DataFrame(rows)


def probe_comparisons_frame(summary: dict) -> pd.DataFrame:
    """The encoders compared by each probe (secondary): the order task against the supervised pretext
    and against the starting weights, the supervised pretext against the starting weights."""
    rows = []
    for key, entry in summary.get("probes", {}).get("probes", {}).items():
        for split in ("test", "heldout"):
            for c in entry[split]["comparisons"]:
                rows.append({"probe": key, "faces": c["split"], "a": c["a"], "b": c["b"],
                             "mae(a) - mae(b)": round(c["mae_diff"], 3),
                             "ci95": f"[{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}]", "verdict": verdict_shown(c),
                             "equivalence": c["equivalence"], "why withheld": c.get("withheld", "")})
    return pd.DataFrame(rows)


def protocol_table(summary: dict) -> pd.DataFrame:
    """What each run was trained with and what chose its epoch and settings (never the test split)."""
    p = summary.get("protocol", {})
    rows = {}
    for name, t in p.get("training", {}).items():
        sel = p.get("selection", {}).get(name, {})
        mults = p.get("backbone_lr_mult", {}).get(name)
        rows[name] = {"epochs": t.get("epochs"), "early stopping": p.get("early_stopping", {}).get(name),
                      "batch": t.get("batch_size"), "lr": t.get("lr"),
                      "loss": AGE_LOSS_NAMES.get(t.get("loss"), t.get("loss")) or p.get("order_loss_name", p.get("order_loss")),
                      "backbone lr mult": (", ".join(f"{v:g}" for v in mults.values()) + " (chosen per seed)") if mults
                      else p.get("fixed_backbone_lr_mult", {}).get(name, 1.0),
                      "epoch chosen by": sel.get("epoch", "")}
    return pd.DataFrame(rows).T


def _diff(c: dict) -> str:
    lo, hi = c["ci95"]
    f = "{:+.3f}" if max(abs(lo), abs(hi)) < 0.1 else "{:+.2f}"
    return f"{f.format(c['mae_diff'])} years, 95% CI {f.format(lo)} to {f.format(hi)}"


def _equivalence_words(c: dict) -> str:
    if "ci90" not in c or c.get("verdict") == WITHHELD:
        return ""
    lo, hi = c["ci90"]
    shown = c["equivalence"] != "not shown equivalent"
    return (f"; {'equivalent' if shown else 'not shown equivalent'} within ±{c['margin']:g} years "
            f"(90% CI {lo:+.2f} to {hi:+.2f})")


def _said(c: dict) -> str:
    """One comparison in words, from its verdict and equivalence reading alone, with its seed count."""
    a, b = c["a"], c["b"]
    seeds = c.get("seeds", 1)
    if c["verdict"] == WITHHELD:
        text = f"{a} against {b}: no verdict ({c['withheld'].split(':')[0]}; {_diff(c)})"
    elif c["verdict"] == "a better":
        text = f"{a} has a lower MAE than {b} ({_diff(c)})"
    elif c["verdict"] == "b better":
        text = f"{a} has a higher MAE than {b} ({_diff(c)})"
    else:
        text = f"no difference between {a} and {b} is shown ({_diff(c)}: the interval includes 0)"
    return text + _equivalence_words(c) + f"; {a} was lower in {c['seeds_a_better']} of {seeds} seed{'s' if seeds != 1 else ''}"


def _ordering_verdict(summary: dict, comps: list[dict]) -> str:
    """What condition 3 against both controls, and supervised pretraining against none, say about
    pretraining and about the order task itself (verdicts and equivalence readings, never one for
    the other); withheld where an arm does not beat its mean predictor."""
    got = {(c["a"], c["b"]): c for c in comps}
    n = len(summary.get("seeds", []))
    scratch, sup = got.get(("vcop_downstream", CONTROL)), got.get(("vcop_downstream", SUPERVISED_CONTROL))
    if scratch is None:
        return ""
    if sup is None:
        return ("The supervised control (pretrained by age regression on the same pretext people and photos) was "
                "not run, so whether ordering itself helps is not tested here.")
    withheld = [c for c in (scratch, sup, got.get((SUPERVISED_CONTROL, CONTROL))) if c and c["verdict"] == WITHHELD]
    if withheld:
        return (f"No answer about pretraining on this split: {withheld[0]['withheld']}. The numbers stay in the "
                "tables.")
    v_scratch, v_sup, eq = scratch["verdict"], sup["verdict"], sup.get("equivalence", "not shown equivalent")
    eq = eq != "not shown equivalent"
    if v_scratch == "a better" and v_sup == "a better":
        return (f"Here, over {n} seeds, condition 3 beat both controls: order pretraining helped beyond the "
                "age labels its tuples are built from.")
    if "b better" in (v_scratch, v_sup):
        worse = " and ".join(c["b"] for c in (scratch, sup) if c["verdict"] == "b better")
        beat = " (it beat aihub_scratch)" if v_scratch == "a better" else ""
        return f"Here, over {n} seeds, condition 3 did worse than {worse}{beat}: that ordering helps is not shown."
    m = sup.get("margin", 0.5)
    power = sup.get("power_at_margin", {})
    power_words = (f" (at this comparison's standard error, a true difference of ±{m:g} years would be found "
                   f"{power['find_difference']:.0%} of the time, and identical recipes shown equivalent "
                   f"{power['show_equivalence']:.0%})") if power else ""
    if eq:
        lead = ("condition 3 beat the no-pretraining control" if v_scratch == "a better"
                else "condition 3 did not beat the no-pretraining control")
        return (f"Here, over {n} seeds, {lead}, and it was equivalent to the supervised control within ±{m:g} "
                f"years: ordering did neither better nor worse than age regression on the same photos by more than "
                f"{m:g} years" + power_words + ".")
    if v_scratch == "a better":
        return (f"Here, over {n} seeds, condition 3 beat the no-pretraining control but neither beat the supervised "
                f"control nor was shown equivalent to it within ±{m:g} years: that it helped because of ordering is "
                "not shown either way" + power_words + ".")
    return ("That order pretraining helps is not shown by these runs: condition 3 did not beat both controls"
            + power_words + ".")


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
            parts.append("Against the baseline (secondary): " + "; ".join(_said(c) for c in vs_base)
                         + ". Conditions 3 and 4 also differ from the baseline in their training data, so these "
                           "differences are not the order task's alone.")
        control = [c for c in comps if (c.get("role") or role(c["a"], c["b"])) == "primary"]
        if control:
            parts.append("Condition 3 and its controls (the primary comparisons): " + "; ".join(_said(c) for c in control)
                         + ".")
            parts.append(_ordering_verdict(summary, control))
        multi = [c for c in comps if c["a"] == "multitrain" and c["b"] in CONTROLS]
        if multi:
            parts.append("Condition 4 against the controls (built for condition 3, so indicative only): "
                         + "; ".join(_said(c) for c in multi) + ".")
        fixed = summary.get("sensitivity", {}).get("comparisons", [])
        if fixed:
            parts.append("Sensitivity, not primary (both pretexts trained for the same fixed number of epochs, the "
                         "last kept, so both encoders rest on the same images): " + "; ".join(_said(c) for c in fixed)
                         + ".")
        held = summary.get("comparisons_heldout", [])
        if held:
            dev = summary.get("protocol", {}).get("development", "")
            parts.append(f"Secondary, not adjusted for multiple comparisons: on {identities}'s held-out people "
                         f"({held[0]['split']}, never trained on or used to choose anything in these runs"
                         + (f"; {dev}" if dev else "") + "): " + "; ".join(_said(c) for c in held) + ".")
        curve = summary.get("label_efficiency")
        if curve:
            shown = [f"{c['fraction']:.0%}, {c['a']} against {c['b']}: " + c["verdict"].replace("a better", f"{c['a']} better")
                     .replace("b better", f"{c['b']} better") for c in curve["comparisons"]]
            parts.append("Secondary, by share of the fine-tuning people (all photos of each): " + "; ".join(shown) + ".")
    probes = summary.get("probes", {}).get("probes", {})
    if probes and len(seeds) >= MIN_SEEDS:
        said = []
        for key in ("linear/identities", "knn/identities"):
            if key in probes:
                said += [f"{key.split('/')[0]} probe, {_said(c)}" for c in probes[key]["test"]["comparisons"]
                         if c["a"] == "vcop"]
        if said:
            parts.append("Secondary, frozen encoders read by probes fitted on the identities' fine-tuning people "
                         "(vcop: after the order task; supervised_pretext: after the supervised pretext; "
                         "pretext_start: before pretraining), on the test faces: " + "; ".join(said) + ".")
    if "pretext" in summary:
        p = summary["pretext"]
        parts.append(f"The pretext model orders tuples of unseen people with top-1 {p['top1']:.2f} "
                     f"(chance {p['chance_top1']:.2f}) and Kendall tau {p['kendall_tau']:.2f}.")
    parts.append(_protocol_sentence(summary))
    if len(seeds) > 1:
        clusters = summary.get("protocol", {}).get("test_clusters", "")
        parts.append("Intervals are over trained models: the seed-to-seed variance and the test faces' sampling "
                     "variance (a two-way cluster variance, each part with its own t quantile; seeds with S − 1 "
                     "degrees of freedom" + (f"; test clusters: {clusters}" if clusters else "") + ").")
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
