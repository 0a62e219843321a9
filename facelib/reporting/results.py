"""The summary that 06_eval-all writes from the records (`study/records.py`) that still describe the
weights and data in place: conditions, controls, comparisons with verdicts, protocol, budget."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .. import registry
from ..config import (
    CONDITIONS,
    CONTROL,
    CONTROLS,
    FINETUNE_ARMS,
    FIXED_ARMS,
    FIXED_PRETEXTS,
    PRIMARY_PAIRS,
    SUPERVISED_CONTROL,
    SUPERVISED_PRETEXT,
    label_percent,
)
from ..data.cache import FaceCache
from ..study.provenance import Inventory, kept_budget, why_stale
from ..study.records import jsonable, read_results
from .stats import (
    EQUIVALENCE_MARGIN,
    MARGIN_FIXED,
    METHOD,
    MIN_SEEDS,
    compare,
    mean_interval,
)

REGRESSION_KEYS = ("mae", "rmse", "r2", "ca3", "ca5", "n")
WITHHELD = "withheld"
# What a cluster of test faces is, by test split: the photos counted together in the face variance.
CLUSTERS = {"megaage_asian/test": "each face its own cluster (MegaAge-Asian names no people; a file repeated "
                                  "byte-identically within the list shares its first copy's)",
            "aaf/val": "each face its own cluster (AAF names no people: every file is its own image index; a file "
                       "repeated byte-identically within the list shares its first copy's)",
            "utkface/asian_test": "groups of near-duplicate photos (UTKFace names no people; repeats under other "
                                  "names are grouped)"}


class NothingToReport(ValueError):
    """No condition has test results left that describe the weights and data in place."""


def collect(paths, seeds, preset: str = "") -> tuple[dict, list[dict], list[str]]:
    """The results of each model seed that still describe the weights and data in place:
    ({seed: {name: record}}, [{seed, file, why} left out], [other warnings]).

    Fails closed (`provenance.why_stale`): a record trained again since, on other data or another
    kind of data, from upstream weights no longer in place, by another code version, or that did
    not finish, is left out, once, with the reason."""
    inv = Inventory(paths, preset)
    per_seed, left_out, warnings = {}, [], []
    for seed in seeds:
        sp = paths.for_seed(seed)
        kept = {}
        for name, r in read_results(sp.results_dir).items():
            why = why_stale(r, sp, inv)
            if why:
                left_out.append({"seed": seed, "file": sp.rel(sp.results_dir / f"{name}.json"), "why": why})
            else:
                kept[name] = r
        per_seed[seed] = kept
        ref = kept.get("vcop_downstream")
        for arm in (*CONTROLS, *FIXED_ARMS):
            if ref and arm in kept and _arm_protocol(kept[arm]) != _arm_protocol(ref):
                del kept[arm]
                left_out.append({"seed": seed, "file": sp.rel(sp.results_dir / f"{arm}.json"),
                                 "why": "it was fine-tuned otherwise than vcop_downstream (training block, multiplier "
                                        "grid, rehearsal share or identity split), so it is no control for it"})
    commits = sorted({(r["git"]["commit"][:10], bool(r["git"].get("dirty"))) for rs in per_seed.values()
                      for r in rs.values() if r.get("git")})
    states = ", ".join(c + (" with uncommitted changes" if d else "") for c, d in commits)
    if len({c for c, _ in commits}) > 1:
        warnings.append(f"these results were made by more than one state of the code: {states}")
    elif any(d for _, d in commits):
        warnings.append(f"these results were made by code with uncommitted changes ({states}): no commit "
                        "reproduces them exactly")
    others = sorted(int(p.name[4:]) for p in Path(paths.out_dir).glob("seed*")
                    if p.name[4:].isdigit() and int(p.name[4:]) not in seeds)
    if others:
        warnings.append(f"results of seeds {others} lie in {paths.rel(paths.out_dir)} but are not part of "
                        f"this summary (seeds {list(seeds)})")
    return per_seed, left_out, warnings


def _arm_protocol(r: dict) -> str:
    """What a fine-tuning arm must share with condition 3 to be its control: the training block (its
    chosen multiplier and micro-batches aside), the multiplier grid, the rehearsal share, the split."""
    c = r.get("config", {})
    block = {k: v for k, v in c.get("vcop_downstream", {}).items() if k not in ("backbone_lr_mult", "micro_batch")}
    return json.dumps([block, c.get("backbone_lr_grid"), r.get("utkface_share"), r.get("split_seed"),
                       c.get("image_size"), c.get("backbone")], sort_keys=True)


def left_out_lines(left_out: list[dict]) -> list[str]:
    return [f"seed {e['seed']}: {e['file']} left out: {e['why']}" for e in left_out]


# ---------------------------------------------------------------- errors of the runs

def abs_errors(per_seed: dict, name: str, paths) -> tuple | None:
    """(|pred − age| (seeds, faces), |mean − age| (seeds, faces), ages, person of each face, test-split
    row index of each face) of a run tested in every seed; None where a seed has no test results."""
    errs, mean_errs, ages, groups, faces = [], [], None, None, None
    for results in per_seed.values():
        r = results.get(name)
        if not r or "test" not in r or not r.get("predictions"):
            return None
        df = pd.read_csv(paths.abs(r["predictions"]), keep_default_na=False).sort_values("index")
        if ages is not None and not (np.array_equal(ages, df["age"].to_numpy())
                                     and np.array_equal(faces, df["index"].to_numpy())):
            raise ValueError(f"{name}: seeds were tested on different faces")
        faces = df["index"].to_numpy()
        ages = df["age"].to_numpy()
        groups = df["identity"].astype(str).to_numpy() if "identity" in df else None
        errs.append(np.abs(df["pred"].to_numpy() - ages))
        mean_errs.append(np.abs(r["mean_predictor"]["predicts"] - ages))
    return np.stack(errs), np.stack(mean_errs), ages, groups, faces


def heldout_errors(per_seed: dict, name: str, paths=None):
    """(errors, groups, mean-predictor errors) of a run on the identities' held-out people in every
    seed: (seeds, faces) arrays and the person of each face when every seed held out the same people,
    else lists of per-seed arrays (each seed its own people) and None. The mean predictor predicts
    the mean of the run's own training labels. None where a seed lacks them."""
    records = [rs.get(name, {}) for rs in per_seed.values()]
    blocks = [r.get("heldout") for r in records]
    if not blocks or any(b is None or "abs_errors" not in b for b in blocks):
        return None
    mean_err = []
    for r, b in zip(records, blocks):
        ages = np.asarray(b["ages"] if "ages" in b else _ages_of(paths, b), dtype=float)
        mean_err.append(np.abs(float(np.mean(r["train"]["train_ages"])) - ages))
    errs = [np.array(b["abs_errors"], dtype=float) for b in blocks]
    faces = [b.get("faces") for b in blocks]
    if all(f == faces[0] for f in faces):
        return np.array(errs), np.array(blocks[0]["identities"]), np.array(mean_err)
    return errs, None, mean_err


def _ages_of(paths, block: dict) -> np.ndarray:
    """The ages of a held-out block's faces, from the prepared manifest (records written before they
    carried their ages)."""
    manifest = FaceCache(paths.cache_dir, block["dataset"]).manifest.set_index("index")
    return manifest.loc[block["faces"], "age"].to_numpy(float)


# ---------------------------------------------------------------- the summary

def _condition_block(per_seed: dict, name: str, err, mean_err, groups, paths=None) -> dict:
    tests = [rs[name]["test"] for rs in per_seed.values()]
    block = {k: float(np.mean([t[k] for t in tests])) for k in ("mae", "rmse", "r2", "ca3", "ca5")}
    vs_mean = mean_interval(err - mean_err, groups)
    block.update(n=int(tests[0]["n"]), mae_seeds=[float(t["mae"]) for t in tests],
                 mae_ci95=mean_interval(err, groups)["ci95"], beats_mean_predictor=bool(vs_mean["ci95"][1] < 0),
                 mean_predictor_mae=float(mean_err.mean()), vs_mean_predictor_ci95=vs_mean["ci95"])
    vals = [rs[name]["val"] for rs in per_seed.values() if "mae" in rs[name].get("val", {})]
    if vals:  # fit against transfer: the MAE on the run's own validation people beside its test MAE
        block.update(val_mae=float(np.mean([v["mae"] for v in vals])),
                     val_split=f"{vals[0].get('dataset', '')}/{vals[0].get('split', '')}")
    held = heldout_errors(per_seed, name, paths)
    if held is not None:
        e, g, m = held
        diff = e - m if isinstance(e, np.ndarray) else [x - y for x, y in zip(e, m)]
        block.update(heldout_mae=float(np.mean([x.mean() for x in e])),
                     heldout_mean_predictor_mae=float(np.mean([x.mean() for x in m])),
                     heldout_beats_mean_predictor=bool(mean_interval(diff, g)["ci95"][1] < 0))
    mults = [rs[name].get("selection", {}).get("backbone_lr_mult") for rs in per_seed.values()]
    if all(m is not None for m in mults):
        block["backbone_lr_mult_seeds"] = mults
    return block


def verdict_shown(c: dict) -> str:
    """A comparison's verdict as a table shows it: "no verdict (N seeds)" where too few seeds were
    trained to state a difference (stats gives a `why`), whatever the interval; else its verdict."""
    if "why" in c:
        return f"no verdict ({c['seeds']} seed{'s' if c['seeds'] != 1 else ''})"
    return c["verdict"]


def role(a: str, b: str) -> str:
    """How the table of runs (`registry.RUNS`) ranks the comparison a − b: primary, secondary or
    sensitivity."""
    return dict(registry.RUNS[registry.run(a).name].compared_with).get(b, registry.SECONDARY)


def withhold(comparison: dict, failing: list[str], split: str) -> dict:
    """The failing-arms rule: where an arm is not shown (by its interval) to beat the mean predictor of
    its own training labels on `split`, the comparison gives no verdict and no equivalence reading,
    saying why; its numbers stay. A lower MAE between arms that do not estimate age says which fails less,
    not which regresses age better. With fewer than MIN_SEEDS seeds there is no verdict to withhold (the
    comparison says why)."""
    if not failing or comparison["seeds"] < MIN_SEEDS:
        return comparison
    verb = "is" if len(failing) == 1 else "are"
    return {**comparison, "interval_verdict": comparison["verdict"], "verdict": WITHHELD, "equivalence": WITHHELD,
            "withheld": f"{' and '.join(failing)} {verb} not shown to beat predicting the mean age of "
                        f"{'its' if len(failing) == 1 else 'their'} own training labels on {split}: a lower MAE "
                        "between arms that do not estimate age says which fails less, not which regresses age "
                        "better"}


def summarize(per_seed: dict, paths, warnings=(), left_out=()) -> dict:
    """The summary contract: preset, data kind, the protocol, the four conditions' test metrics (means
    over model seeds, with `mae_seeds`, `mae_ci95` and `beats_mean_predictor`), the mean-age
    reference, the two controls, `comparisons` with verdicts and equivalence readings on the test
    split and on the identities' held-out people, the fixed-epoch `sensitivity` arm, the pretext
    metrics, each run's training budget (seen and kept) and, when it was run, `label_efficiency`.
    Raises `NothingToReport`, naming what was left out, when no condition is left."""
    errors = {n: e for n in registry.tested_runs() if (e := abs_errors(per_seed, n, paths)) is not None}
    kind = {n: registry.RUNS[n].kind for n in errors}
    conds = [n for n in errors if kind[n] == "condition"]
    if not conds:
        raise NothingToReport(_nothing_message(per_seed, left_out, paths))
    runs = [r for rs in per_seed.values() for r in rs.values() if "run_id" in r]
    first = next(iter(per_seed.values()))
    ref = first.get("baseline", first[conds[0]])
    test = first[conds[0]]["test"]
    test_split = f"{test['dataset']}/{test['split']}"
    blocks = {n: _condition_block(per_seed, n, *errors[n][:2], errors[n][3], paths) for n in errors}
    summary = {
        "preset": runs[0].get("preset"), "data": runs[0].get("data"), "data_id": runs[0].get("data_id", ""),
        "seeds": sorted(per_seed),
        "test_set": test.get("test_set", "megaage_asian"),
        "identities": first[conds[0]].get("config", {}).get("identities", "aihub"),
        "protocol": protocol(per_seed, test_split),
        "conditions": {c: blocks[c] for c in conds},
        "reference": {"mean_predictor": {**{k: ref["mean_predictor"][k] for k in REGRESSION_KEYS},
                                         "fitted_on": ref.get("train", {}).get("dataset", "")}},
    }
    what = {CONTROL: "condition 3's fine-tuning from the weights its pretext model started from (no pretraining)",
            SUPERVISED_CONTROL: "condition 3's fine-tuning from an encoder pretrained by age regression on the "
                                "same pretext people and photos"}
    for c in (n for n in errors if kind[n] == "control"):
        summary["reference"][c] = {**blocks[c], "what": what.get(c, registry.RUNS[c].label)}
    pairs = [(a, b) for a, b, _ in registry.pairs(errors)]
    for a, b in pairs:  # paired face by face: the same test faces, not merely as many
        if not np.array_equal(errors[a][4], errors[b][4]):
            raise ValueError(f"{a} and {b} were tested on different faces; run notebook 06 again after both "
                             "are tested on the same test split")
    tested = []
    for a, b in pairs:
        c = {**compare(a, b, errors[a][0], errors[b][0], groups=errors[a][3]), "role": role(a, b),
             "split": f"test: {test_split}", "clusters": CLUSTERS.get(test_split, "each face its own cluster")}
        tested.append(withhold(c, [x for x in (a, b) if not blocks[x]["beats_mean_predictor"]], test_split))
    summary["comparisons"] = [c for c in tested if c["role"] != "sensitivity"]
    held = []
    for a, b in pairs:
        ea, eb = heldout_errors(per_seed, a, paths), heldout_errors(per_seed, b, paths)
        if kind[b] in ("control", "sensitivity") and kind[a] != "sensitivity" and ea is not None and eb is not None:
            faces = [[rs.get(x, {}).get("heldout", {}).get("faces") for rs in per_seed.values()] for x in (a, b)]
            if faces[0] != faces[1]:
                raise ValueError(f"{a} and {b} were tested on different held-out faces in a seed; run notebook "
                                 "06 again after both are tested on the same identities' split")
            split = f"{first[a]['heldout']['dataset']}/heldout"
            c = {**compare(a, b, ea[0], eb[0], groups=ea[1]), "split": split, "role": "secondary",
                 "clusters": "each seed's own held-out people (their sampling is in the seed spread)"}
            held.append(withhold(c, [x for x in (a, b) if not blocks[x].get("heldout_beats_mean_predictor", False)],
                                 split))
    if held:  # the identities' own people: no run of this study trained on them or chose with them
        summary["comparisons_heldout"] = held
    fixed = [c for c in tested if c["role"] == "sensitivity"]
    if fixed:
        summary["sensitivity"] = {
            "what": ("fixed-epoch pretexts: vcop_fixed and supervised_pretext_fixed trained for every one of "
                     "vcop.epochs epochs (no early stopping) with their last epoch kept, so both pretrained "
                     "encoders rest on the same images; condition 3 and the supervised control fine-tuned from them "
                     "exactly as the primary arms (not primary)"),
            "arms": {n: blocks[n] for n in errors if kind[n] == "sensitivity"}, "comparisons": fixed}
    pretexts = [rs["vcop"]["pretext"] for rs in per_seed.values() if "pretext" in rs.get("vcop", {})]
    if pretexts:
        keys = ("top1", "top3", "exact_match", "kendall_tau", "spearman_rho", "chance_top1", "pairwise_acc",
                "pairwise_acc_same_colour", "pairwise_acc_mixed_colour")
        summary["pretext"] = {k: float(np.mean(v)) for k in keys
                              if (v := [p[k] for p in pretexts if p.get(k) is not None])}
        summary["pretext"]["top1_seeds"] = [p["top1"] for p in pretexts]
        summary["pretext"]["kendall_tau_seeds"] = [p["kendall_tau"] for p in pretexts]
        summary["pretext"]["split"] = pretexts[0].get("split", "")
    sup = [rs[SUPERVISED_PRETEXT]["val"]["mae"] for rs in per_seed.values() if SUPERVISED_PRETEXT in rs]
    if sup:
        summary["supervised_pretext"] = {"val_mae": float(np.mean(sup)), "val_mae_seeds": sup}
    summary["budget"] = budget_table(per_seed)
    curve = label_efficiency(per_seed, paths)
    if curve:
        summary["label_efficiency"] = curve
    probes = probe_summary(per_seed, paths)
    if probes:
        summary["probes"] = probes
    summary["left_out"] = list(left_out)
    summary["warnings"] = left_out_lines(left_out) + list(warnings)
    return summary


def _nothing_message(per_seed, left_out, paths) -> str:
    kept = sorted({n for rs in per_seed.values() for n in rs if n != "data"})
    lines = [f"no condition has test results in every seed that still describe the weights and data in place "
             f"(data folder: {paths.data_root}; results under {paths.out_dir})"]
    if left_out:
        lines.append("left out:")
        lines += [f"  {line}" for line in left_out_lines(left_out)]
    elif not kept:
        lines.append("no results files were found for these seeds")
    lines.append("run notebooks 01-05 (or `facelib run --from 01`) with this data folder, preset and these seeds")
    return "\n".join(lines)


ORDER_LOSS_NAMES = {"score": "pairwise logistic ranking loss over each photo's score",
                    "ce": "cross-entropy over the T! orders", "soft": "soft-permutation loss over the T! orders"}
AGE_LOSS_NAMES = {"l1": "L1", "mse": "MSE", "weighted_l1": "age-weighted L1"}


def order_loss_name(order_head: str | None, order_loss: str | None, encoder: str | None = "shared2d") -> str:
    """What the order task is trained with: the score head ranks photos by a pairwise loss; the T! head
    (VCOP's, and the original's R(2+1)D head) classifies the order."""
    if encoder == "r21d_original" or order_head == "vcop":
        return ORDER_LOSS_NAMES.get(order_loss, str(order_loss))
    if order_head == "both":
        return f"{ORDER_LOSS_NAMES['score']} + {ORDER_LOSS_NAMES.get(order_loss, str(order_loss))}"
    return ORDER_LOSS_NAMES["score"]


def protocol(per_seed: dict, test_split: str = "") -> dict:
    """How the runs of this summary were trained and chosen, read from their records."""
    first = {}
    for rs in per_seed.values():
        for n, r in rs.items():
            first.setdefault(n, r)
    cfg = next((r["config"] for r in first.values() if "config" in r), {})
    share = next((first[n].get("utkface_share") for n in ("korean_finetuned", *FINETUNE_ARMS, "multitrain")
                  if n in first), None)
    set_by_user = cfg.get("utkface_share") is not None
    runs = ("baseline", "korean_finetuned", "vcop", "vcop_downstream", "multitrain")
    out = {
        "identities": cfg.get("identities"), "test_set": cfg.get("test_set"), "seeds": sorted(per_seed),
        "identity_splits": ("a new split of the identities' people for each model seed, from (data seed, model seed)"
                            if cfg.get("resplit_identities") else "one split for every seed, from the data seed"),
        "split_seeds": {str(s): next((r.get("split_seed") for r in rs.values() if r.get("split_seed")), None)
                        for s, rs in per_seed.items()},
        "utkface_share": share,
        "utkface_share_rule": ("set by the user" if set_by_user else
                               ("0.5 with FG-NET (equal parts; fixed when rehearsal was introduced, before any test "
                                "result; a later 0.75 chosen on the public test MAEs was withdrawn and 0.5 restored "
                                "after those MAEs had been seen), 0 with AIHub")),
        "controls": ("aihub_scratch and supervised_downstream are fine-tuned exactly as vcop_downstream: the same "
                     "training block, data, rehearsal and selection; each of the three (and multitrain) chooses its "
                     "backbone multiplier from backbone_lr_grid on its own validation split"),
        "backbone_lr_grid": cfg.get("backbone_lr_grid"),
        "backbone_lr_mult": {n: {str(s): rs[n]["selection"]["backbone_lr_mult"] for s, rs in per_seed.items()
                                 if n in rs and "backbone_lr_mult" in rs[n].get("selection", {})}
                             for n in (*FINETUNE_ARMS, "multitrain", *FIXED_ARMS) if n in first},
        "fixed_backbone_lr_mult": {n: cfg.get(n, {}).get("backbone_lr_mult") for n in ("baseline", "korean_finetuned")},
        "training": {n: {k: cfg.get(n, {}).get(k) for k in ("epochs", "patience", "warmup_epochs", "batch_size", "lr",
                                                             "loss")}
                     for n in runs},
        "early_stopping": {n: cfg.get(n, {}).get("patience", 0) < cfg.get(n, {}).get("epochs", 0) for n in runs},
        "order_head": cfg.get("order_head"), "order_loss": cfg.get("order_loss"), "encoder": cfg.get("encoder"),
        "order_loss_name": order_loss_name(cfg.get("order_head"), cfg.get("order_loss"), cfg.get("encoder")),
        "downstream_loss": (AGE_LOSS_NAMES.get(cfg.get("vcop_downstream", {}).get("loss"), "")
                            + " (condition 3, both controls and multitrain's age loss; the original's regressor "
                              "used MSE)"),
        "tuple_len": cfg.get("tuple_len"), "min_age_gap": cfg.get("min_age_gap"),
        "multitrain_share_encoder": cfg.get("share_encoder"), "multitrain_lambda": cfg.get("multitrain_lambda"),
        "selection": selection_by_seed(per_seed),
        "intervals": METHOD,
        "test_clusters": CLUSTERS.get(test_split, "each face its own cluster"),
        "equivalence_margin": {
            "years": EQUIVALENCE_MARGIN, "fixed": MARGIN_FIXED,
            "rule": ("two one-sided tests: 'equivalent' when the 90% interval of MAE(a) - MAE(b) lies inside "
                     "±margin; the margin was argued from what a user of an age estimator would notice (ages are "
                     "labelled in whole years), not from any result, and fixed before the runs on AAF"),
            "note": ("results made before this date (the public UTKFace-Asian hold-out of the earlier rounds) were "
                     "seen before the margin was fixed")},
        "test": "read once per trained run, after training, for the reported numbers; nothing is chosen on it",
    }
    if test_split == "utkface/asian_test":
        out["test"] += (" now; facelib's development looked at this hold-out (a rehearsal share of 0.75 was chosen "
                        "on it and withdrawn; the interval method was replaced after a three-seed result on it), so "
                        "it is not a clean test")
    if cfg.get("identities") == "fgnet":
        out["development"] = ("the order head (score) was chosen during development because it ordered FG-NET's "
                              "held-out people better than the T! head (commit b0809dc)")
    if any(n in first for n in FIXED_PRETEXTS):
        out["fixed_epoch_arm"] = ("sensitivity, not primary: both pretexts for vcop.epochs epochs without early "
                                  "stopping, the last epoch kept; the same fine-tuning as the primary arms")
    return out


def selection_by_seed(per_seed: dict) -> dict:
    """{run: {its epoch rule, and per seed: the kept epoch, the multiplier kept and every candidate's
    validation MAE}}: what each seed's validation split chose."""
    out = {}
    for seed, rs in per_seed.items():
        for n, r in rs.items():
            if "selection" not in r or "_labels" in n:
                continue
            sel = r["selection"]
            entry = out.setdefault(n, {k: v for k, v in sel.items()
                                       if k not in ("keys", "backbone_lr_mult", "val_mae_by_mult", "finished",
                                                    "images_seen_all_candidates")})
            entry.setdefault("seeds", {})[str(seed)] = {
                "kept_epoch": r.get("kept_epoch", r.get("best_epoch")),
                **{k: sel[k] for k in ("backbone_lr_mult", "val_mae_by_mult") if k in sel}}
    return out


def budget_table(per_seed: dict) -> dict:
    """{run: images seen, epochs, optimizer steps, wall seconds, and the epoch, images and steps behind
    the kept weights}, averaged over seeds, with each seed's kept epoch."""
    out = {}
    for name in ("vcop", SUPERVISED_PRETEXT, *FIXED_PRETEXTS, *CONDITIONS, *CONTROLS, *FIXED_ARMS):
        rows = [(rs[name]["budget"], rs[name]) for rs in per_seed.values() if "budget" in rs.get(name, {})]
        if not rows:
            continue
        full = []
        for b, r in rows:
            kept = b if "images_kept" in b else kept_budget(b["images_seen"], b["steps"], b["epochs"],
                                                            r.get("kept_epoch", r.get("best_epoch", b["epochs"])))
            full.append({**b, **{k: kept[k] for k in ("kept_epoch", "images_kept", "steps_kept")}})
        out[name] = {k: float(np.mean([r[k] for r in full]))
                     for k in ("images_seen", "epochs", "steps", "seconds", "kept_epoch", "images_kept", "steps_kept")}
        out[name]["kept_epoch_seeds"] = [int(r["kept_epoch"]) for r in full]
    return out


def label_efficiency(per_seed: dict, paths) -> dict:
    """Condition 3 and its controls at each share of the fine-tuning labels that all of them ran in
    every seed: MAE, interval, whether it beats its mean predictor, and the three comparisons among
    them (secondary), with their verdicts and the failing-arms rule."""
    names = {n for rs in per_seed.values() for n in rs}
    arms = ["vcop_downstream"] + [c for c in CONTROLS if any(n.startswith(f"{c}_labels") for n in names)]
    pcts = sorted({label_percent(n) for n in names if n.startswith("vcop_downstream_labels")})
    if not pcts:
        return {}
    curve = {"fractions": [], **{a: {"mae": [], "ci95": [], "beats_mean_predictor": []} for a in FINETUNE_ARMS},
             "comparisons": []}
    for pct in [*pcts, 100]:
        suffix = "" if pct == 100 else f"_labels{pct}"
        errs = {a: abs_errors(per_seed, a + suffix, paths) for a in FINETUNE_ARMS}
        if any(errs[a] is None for a in arms):
            continue
        curve["fractions"].append(pct / 100)
        beats = {}
        for a in FINETUNE_ARMS:
            e = errs[a]
            beats[a] = bool(mean_interval(e[0] - e[1], e[3])["ci95"][1] < 0) if e else None
            curve[a]["mae"].append(float(e[0].mean()) if e else None)
            curve[a]["ci95"].append(mean_interval(e[0], e[3])["ci95"] if e else None)
            curve[a]["beats_mean_predictor"].append(beats[a])
        for a, b in PRIMARY_PAIRS:
            if errs[a] is not None and errs[b] is not None:
                c = {"fraction": pct / 100, **compare(a, b, errs[a][0], errs[b][0], groups=errs[a][3]),
                     "role": "secondary"}
                curve["comparisons"].append(withhold(c, [x for x in (a, b) if not beats[x]], "the test split"))
    return curve if curve["fractions"] else {}


PROBED = ("pretext_start", "vcop", "supervised_pretext")
PROBE_PAIRS = (("vcop", "supervised_pretext"), ("vcop", "pretext_start"), ("supervised_pretext", "pretext_start"))


def probe_summary(per_seed: dict, paths) -> dict:
    """The frozen-encoder probes (`study/probes.py`) of every seed: per probe (linear, kNN) and the
    faces it was fitted on (identities, UTKFace), each encoder's MAE on the test split and on the
    held-out people with its interval over seeds and its mean predictor, and the encoders compared
    (the order task against the supervised pretext and against the starting weights, the supervised
    pretext against the starting weights; secondary, with the failing-arms rule)."""
    records = {e: [rs.get(f"probe_{e}") for rs in per_seed.values()] for e in PROBED}
    encoders = [e for e, rs in records.items() if all(r is not None for r in rs)]
    if not encoders:
        return {}
    first = records[encoders[0]][0]
    test = first["test"]
    test_rows = FaceCache(paths.cache_dir, test["dataset"]).split(test["split"])
    # Each seed's own held-out people are in the seed spread; where every seed has the same people
    # (identities not split anew per seed), they are the same faces and clustered by person like a test.
    held = [r.get("heldout_identities") for r in records[encoders[0]]]
    shared = len(held) > 1 and held[0] is not None and all(h == held[0] for h in held)
    groups = {"test": test_rows["identity"].astype(str).to_numpy(), "heldout": np.asarray(held[0]) if shared else None}
    out = {"what": ("frozen encoders (before pretraining, after the order task, after the supervised pretext) "
                    "read by a ridge regression and a k-nearest-neighbour regression, each with its one setting "
                    "chosen on a validation split; secondary"),
           "encoders": encoders, "splits": {"test": f"{test['dataset']}/{test['split']}",
                                            "heldout": ("the held-out people of the identities, the same for every "
                                                        "seed (clustered by person)" if shared else
                                                        "each seed's held-out people of the identities")},
           "probes": {}}
    for key in first["probes"]:
        entry = {"fitted_on": first["probes"][key]["fitted_on"], "chosen_on": first["probes"][key]["chosen_on"],
                 "settings": {e: [r["probes"][key]["setting"] for r in records[e]] for e in encoders}}
        for split in ("test", "heldout"):
            blocks, errs = {}, {}
            for e in encoders:
                rows = [r["probes"][key][split] for r in records[e]]
                err = [np.asarray(b["abs_errors"], float) for b in rows]
                mean_err = [np.asarray(b["mean_predictor_abs_errors"], float) for b in rows]
                if split == "test" or shared:
                    err, mean_err = np.array(err), np.array(mean_err)
                    diff = err - mean_err
                else:
                    diff = [x - y for x, y in zip(err, mean_err)]
                errs[e] = err
                blocks[e] = {"mae": float(np.mean([b["mae"] for b in rows])), "mae_seeds": [b["mae"] for b in rows],
                             "mae_ci95": mean_interval(err, groups[split])["ci95"],
                             "mean_predictor_mae": float(np.mean([b["mean_predictor_mae"] for b in rows])),
                             "beats_mean_predictor": bool(mean_interval(diff, groups[split])["ci95"][1] < 0)}
            comps = []
            for a, b in PROBE_PAIRS:
                if a in errs and b in errs:
                    c = {**compare(a, b, errs[a], errs[b], groups=groups[split]), "role": "secondary",
                         "split": out["splits"][split]}
                    comps.append(withhold(c, [x for x in (a, b) if not blocks[x]["beats_mean_predictor"]],
                                          out["splits"][split]))
            entry[split] = {"encoders": blocks, "comparisons": comps}
        out["probes"][key] = entry
    return out


def summary_table(summary: dict) -> pd.DataFrame:
    rows = {c: m for c, m in summary["conditions"].items()}
    for name, ref in summary["reference"].items():
        rows[name] = {k: v for k, v in ref.items() if k in REGRESSION_KEYS}
    return pd.DataFrame(rows).T[list(REGRESSION_KEYS)].astype({"n": int})


def write_summary(paths, seeds, preset: str = "") -> dict:
    """Collect the results of `seeds`, print every file left out and why (before anything else, so it
    shows even when nothing is left to report), summarise into outputs/results/summary.json and
    summary.csv, and return the summary."""
    per_seed, left_out, warnings = collect(paths, seeds, preset)
    for line in left_out_lines(left_out) + warnings:
        print("WARNING:", line)
    summary = jsonable(summarize(per_seed, paths, warnings, left_out))
    paths.results_dir.mkdir(parents=True, exist_ok=True)
    (paths.results_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    summary_table(summary).to_csv(paths.results_dir / "summary.csv", index_label="condition")
    return summary
