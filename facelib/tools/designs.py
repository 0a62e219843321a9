"""The original prototype's design measured beside facelib's, each against both controls, on the
same data, splits, budget and selection.

`compare_designs` trains, for each design and model seed, the pretext model, the supervised pretext
and condition 3 with both of its controls (`aihub_scratch`, `supervised_downstream`: the supervised
pretext's loss is the design's downstream loss, MSE for the original's), tests them, and writes
`outputs/results/designs.json`: pretext top-1 and Kendall tau on unseen people, every arm's test MAE
with its interval, condition 3 against each control (verdict, equivalence, and the failing-arms rule),
and seconds per pretext epoch. Each design keeps its own weights and results under `designs/<d>/`.
"""
from __future__ import annotations

import json
import time
from dataclasses import replace

import numpy as np
import pandas as pd

from ..config import CONTROL, SUPERVISED_CONTROL, TEST_SPLIT, override
from ..reporting.results import abs_errors, withhold
from ..reporting.stats import compare, mae_ci, mean_interval
from ..study import conditions as C
from ..study.provenance import CODE_VERSION, data_kind, key_id

# What differs: the encoder and the losses. The original's README trained its order model with
# cross-entropy over the T! orders and its regressor with MSE; its code also holds a soft-permutation
# loss (Kendall distance over items, temperature 0.5), kept as a labelled variant. Data, splits,
# epochs, batch sizes and selection are shared.
DESIGNS = {
    "facelib (shared2d, score head: pairwise ranking, L1)": {"encoder": "shared2d", "order_head": "score"},
    "facelib, T! head (shared2d, VCOP pair head: cross-entropy, L1)": {"encoder": "shared2d", "order_head": "vcop",
                                                                      "order_loss": "ce"},
    "original (r21d_original, cross-entropy, MSE)": {"encoder": "r21d_original", "order_loss": "ce",
                                                     "vcop_downstream.loss": "mse"},
}
# A labelled extra, run with `facelib designs --extras`: the soft-permutation loss of the original's code.
EXTRA_DESIGNS = {
    "extra: original, soft-permutation loss (items, T 0.5), MSE": {
        "encoder": "r21d_original", "order_loss": "soft", "kendall_convention": "items", "soft_temperature": 0.5,
        "vcop_downstream.loss": "mse"},
}
ALL_DESIGNS = {**DESIGNS, **EXTRA_DESIGNS}  # the index in this order names a design's folder
ARMS = ("vcop_downstream", CONTROL, SUPERVISED_CONTROL)


# Order-task recipes, pretext only (`facelib designs --order-recipes`): each changes one thing from
# the preset's recipe. Reported on pretext_val, the people that choose each run's epoch: top-1,
# Kendall tau, pairwise accuracy (all pairs, by age gap, on same-colour pairs). The held-out people
# are kept for the study's own order metrics; no recipe is chosen with them.
ORDER_RECIPES = {
    "score head, pairwise ranking (default)": {"order_head": "score"},
    "score head, age-gap curriculum 10 → 3 years": {"order_head": "score", "min_age_gap_start": 10},
    "score head, 40 tuples per person per epoch": {"order_head": "score", "tuples_per_identity": 40},
    "T! head (VCOP), cross-entropy": {"order_head": "vcop"},
}


def design_paths(paths, index: int, group: str = "designs"):
    """Paths of one design (or recipe): its own weights and results under `<group>/d<index>/`."""
    slug = f"d{index}"
    return replace(paths, weights_dir=paths.weights_dir / group / slug, out_dir=paths.out_dir / group / slug)


def with_settings(cfg, seed: int, settings: dict):
    """`cfg` for one seed with a design's or recipe's settings (nested ones as "block.field")."""
    c = replace(cfg, seed=int(seed))
    for key, value in settings.items():
        c = override(c, key.split("."), value)
    return c.validate()


def _write(paths, filename: str, out: dict) -> None:
    """The comparison so far (written after each design or recipe, so a stopped run keeps its rows)."""
    paths.results_dir.mkdir(parents=True, exist_ok=True)
    (paths.results_dir / filename).write_text(json.dumps(out, indent=2))


def side_result(paths, filename: str) -> tuple[dict | None, str]:
    """A side result (designs.json, order_recipes.json) if it was made from the data in place:
    (result, "") or (None, why not)."""
    path = paths.results_dir / filename
    if not path.exists():
        return None, f"no {filename}"
    out = json.loads(path.read_text())
    if out.get("data") != data_kind(paths) or out.get("data_id") != paths.data_id:
        return None, (f"{filename} was made from other data ({out.get('data')}, {out.get('data_id')}); "
                      f"the data in place are {data_kind(paths)} ({paths.data_id})")
    return out, ""


def select_designs(only: str | None = None, extras: bool = False) -> dict[str, int]:
    """The designs to train, each with its index in the full list (the index names its folder,
    `designs/d<index>/`, whichever are selected): all of them (and, with `extras`, the labelled extras),
    or those whose name contains `only` (case-insensitive)."""
    designs = {name: i for i, name in enumerate(ALL_DESIGNS) if extras or name in DESIGNS}
    if only is None:
        return designs
    text = only.strip().lower()
    chosen = {name: i for name, i in designs.items() if text and text in name.lower()}
    if not chosen:
        raise ValueError(f"no design's name contains {only!r}; the designs are: " + "; ".join(designs)
                         + ("" if extras else " (and, with --extras, " + "; ".join(EXTRA_DESIGNS) + ")"))
    return chosen


def _say(text: str) -> None:
    print(f"[designs] {text}", flush=True)


def config_hash(cfg, settings: dict) -> str:
    """What a design's runs were configured with, whatever the seed: its whole config (the preset's
    training blocks included) with the design's settings, and the code version of the results."""
    c = {k: v for k, v in with_settings(cfg, 0, settings).to_dict().items() if k not in ("seed", "num_workers")}
    return key_id({"config": c, "code_version": CODE_VERSION})


def _kept_rows(cfg, paths) -> dict:
    """The rows of the designs.json in place that may stand beside rows trained now: only from a file
    made from the same data folder, data seed, preset, test set and identities, and only rows of a
    known design with its current settings. Each row keeps its own seeds. Whatever is dropped is said."""
    out, why = side_result(paths, "designs.json")
    if out is None:
        if why != "no designs.json":
            _say(f"{why}: its rows are not kept")
        return {}
    same = {"preset": cfg.preset, "test_set": cfg.test_set, "identities": cfg.identities, "data_seed": cfg.data_seed}
    if any(out.get(k) != v for k, v in same.items()):
        _say(f"the rows in {paths.results_dir / 'designs.json'} were made with "
             f"{ {k: out.get(k) for k in same} }, not {same}: they are not kept")
        return {}
    kept = {}
    for name, row in out["designs"].items():
        if name not in ALL_DESIGNS or row.get("config_hash") != config_hash(cfg, ALL_DESIGNS[name]):
            _say(f"the row {name!r} is not a design of this code with this config: it is not kept")
        else:
            kept[name] = row
    return kept


def _same_faces(kept: dict, row: dict) -> dict:
    """The kept rows trained and tested on the same prepared data and test faces as `row`: the same
    prepared identities and test faces, and the same faces in every split of the seeds both hold."""
    def matches(r):
        common = r.get("data_hashes", {}).keys() & row["data_hashes"].keys()
        return (all(r.get(k) == row[k] for k in ("data_hash", "test_data_hash"))
                and all(r["data_hashes"][s] == row["data_hashes"][s] for s in common))
    same = {n: r for n, r in kept.items() if matches(r)}
    for name in kept.keys() - same.keys():
        _say(f"the row {name!r} was trained or tested on other faces (or does not say which): it is not kept")
    return same


def compare_designs(cfg, paths, seeds=(0,), progress: bool = False, extras: bool = False,
                    only: str | None = None) -> dict:
    """Train and test every design (and, with `extras`, the labelled extras) for every seed, against
    both controls; write and return outputs/results/designs.json. With `only`, just the designs whose
    name contains it; the rows of the designs.json in place made from the same data, data seed,
    config and test faces are kept (each with its own seeds) until a row trained now replaces them."""
    chosen = select_designs(only, extras)
    order = list(ALL_DESIGNS)
    kept, t0 = (_kept_rows(cfg, paths) if only is not None else {}), time.time()
    rows = {}
    for name, i in chosen.items():
        settings = ALL_DESIGNS[name]
        base = design_paths(paths, i)
        per_seed = {}
        for seed in seeds:
            c, p = with_settings(cfg, seed, settings), base.for_seed(int(seed))
            pre = C.vcop(c, p, progress=progress)
            C.supervised_pretext(c, p, progress=progress)
            for arm in ARMS:
                C.evaluate_condition(arm, p, C.finetune_arm(c, p, arm, progress=progress).model, c)
            per_seed[int(seed)] = {n: json.loads((p.results_dir / f"{n}.json").read_text())
                                   for n in ("vcop", *ARMS)}
            per_seed[int(seed)]["_epoch_seconds"] = float(pre.fit.history["seconds"].mean())
            _say(f"{name}: seed {seed} trained and tested ({time.time() - t0:.0f} s since the start)")
        errors = {n: abs_errors(per_seed, n, paths) for n in ARMS}
        groups = errors["vcop_downstream"][3]
        beats = {n: bool(mean_interval(e[0] - e[1], groups)["ci95"][1] < 0) for n, e in errors.items()}
        split = "/".join(TEST_SPLIT[cfg.test_set])
        versus = {}
        for control in (CONTROL, SUPERVISED_CONTROL):
            if not np.array_equal(errors["vcop_downstream"][4], errors[control][4]):
                raise ValueError(f"{name}: vcop_downstream and {control} were tested on different faces")
            comparison = compare("vcop_downstream", control, errors["vcop_downstream"][0], errors[control][0],
                                 groups=groups)
            versus[control] = withhold(comparison, [n for n in ("vcop_downstream", control) if not beats[n]], split)
        top1 = [r["vcop"]["pretext"]["top1"] for r in per_seed.values()]
        tau = [r["vcop"]["pretext"]["kendall_tau"] for r in per_seed.values()]
        rows[name] = {"settings": settings, "seeds": list(map(int, seeds)), "extra": name in EXTRA_DESIGNS,
                      "pretext_top1": float(np.mean(top1)), "pretext_top1_seeds": top1,
                      "pretext_kendall_tau": float(np.mean(tau)), "pretext_kendall_tau_seeds": tau,
                      **{f"{n}_mae": float(errors[n][0].mean()) for n in ARMS},
                      **{f"{n}_mae_ci95": mae_ci(errors[n][0], groups) for n in ARMS},
                      **{f"{n}_beats_mean_predictor": beats[n] for n in ARMS},
                      "mean_predictor_mae": float(errors["vcop_downstream"][1].mean()),
                      "vs_control": versus[CONTROL], "vs_supervised": versus[SUPERVISED_CONTROL],
                      "seconds_per_pretext_epoch": float(np.mean([r["_epoch_seconds"] for r in per_seed.values()])),
                      "pretext_epochs": cfg.vcop.epochs, "fine_tuning_epochs": cfg.vcop_downstream.epochs,
                      "config_hash": config_hash(cfg, settings), **_made_from(per_seed)}
        if len(rows) == 1:
            kept = _same_faces(kept, rows[name])
        merged = {**kept, **rows}
        out = {"preset": cfg.preset, "data": data_kind(paths), "data_id": paths.data_id, "data_seed": cfg.data_seed,
               "test_set": cfg.test_set, "identities": cfg.identities,
               "designs": {n: merged[n] for n in sorted(merged, key=order.index)}}
        _write(paths, "designs.json", out)
    return out


def _made_from(per_seed: dict) -> dict:
    """The prepared data and the test faces a row's runs used (the same in every seed and arm), and the
    distinct commits and library versions of its arms' records."""
    pairs = {(r[n]["data_hash"], r[n]["test_data_hash"]) for r in per_seed.values() for n in ARMS}
    if len(pairs) != 1:
        raise ValueError(f"the arms or seeds of one design used different data or test faces: {sorted(pairs)}")
    (data_hash, test_hash), = pairs
    distinct = lambda k: [json.loads(v) for v in sorted({json.dumps(r[n].get(k), sort_keys=True)  # noqa: E731
                                                         for r in per_seed.values() for n in ARMS})]
    return {"data_hash": data_hash, "test_data_hash": test_hash,
            "data_hashes": {str(seed): r["vcop_downstream"]["data_hashes"] for seed, r in per_seed.items()},
            "git": distinct("git"), "versions": distinct("versions")}


def designs_table(result: dict):
    """The reproduction rows: one per design, each arm's MAE and condition 3 against both controls."""
    rows = {}
    for name, r in result["designs"].items():
        def vs(c):
            said = c["verdict"] if c["verdict"] != "withheld" else "withheld"
            return f"{c['mae_diff']:+.2f} [{c['ci95'][0]:+.2f}, {c['ci95'][1]:+.2f}]: {said}"
        rows[name] = {"seeds": ",".join(map(str, r["seeds"])),
                      "pretext top-1": f"{r['pretext_top1']:.3f}", "Kendall tau": f"{r['pretext_kendall_tau']:.3f}",
                      **{f"{n} MAE [95% CI]": f"{r[f'{n}_mae']:.2f} [{r[f'{n}_mae_ci95'][0]:.2f}, "
                                              f"{r[f'{n}_mae_ci95'][1]:.2f}]" for n in ARMS},
                      "3 − aihub_scratch": vs(r["vs_control"]), "3 − supervised_downstream": vs(r["vs_supervised"]),
                      "s / pretext epoch": f"{r['seconds_per_pretext_epoch']:.1f}"}
    return pd.DataFrame(rows).T


def compare_order_recipes(cfg, paths, seeds=(0,), recipes=None, progress: bool = False) -> dict:
    """Train the pretext model of every recipe for every seed; write and return
    outputs/results/order_recipes.json (means over seeds and each seed's metrics)."""
    recipes = ORDER_RECIPES if recipes is None else recipes
    rows = {}
    for i, (name, settings) in enumerate(recipes.items()):
        base = design_paths(paths, i, group="order_recipes")
        per_seed = []
        for seed in seeds:
            c = with_settings(cfg, seed, settings)
            per_seed.append(C.vcop(c, base.for_seed(int(seed)), progress=progress).val)
        keys = ("top1", "kendall_tau", "pairwise_acc", "pairwise_acc_same_colour", "pairwise_acc_mixed_colour")
        row = {"settings": settings, "seeds": list(map(int, seeds)), "per_seed": per_seed}
        for k in keys:
            vals = [m[k] for m in per_seed if m.get(k) is not None]
            row[k] = float(np.mean(vals)) if vals else None
        gaps = {g for m in per_seed for g in m.get("pairwise_acc_by_gap", {})}
        row["pairwise_acc_by_gap"] = {g: float(np.mean([m["pairwise_acc_by_gap"][g]["acc"] for m in per_seed
                                                        if g in m.get("pairwise_acc_by_gap", {})]))
                                      for g in sorted(gaps, key=lambda g: float(g.split("-")[0].rstrip("+")))}
        rows[name] = row
        out = {"preset": cfg.preset, "data": data_kind(paths), "data_id": paths.data_id, "identities": cfg.identities, "tuple_len": cfg.tuple_len, "min_age_gap": cfg.min_age_gap,
               "chance_top1": per_seed[0]["chance_top1"], "recipes": rows}
        _write(paths, "order_recipes.json", out)
    return out


def order_recipes_table(result: dict):
    """One row per recipe: means over seeds (and each seed's top-1)."""
    rows = {}
    for name, r in result["recipes"].items():
        fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
        rows[name] = {"top-1": fmt(r["top1"]),
                      "top-1 per seed": " · ".join(f"{m['top1']:.2f}" for m in r["per_seed"]),
                      "Kendall tau": fmt(r["kendall_tau"]), "pairwise": fmt(r["pairwise_acc"]),
                      "same-colour pairs": fmt(r["pairwise_acc_same_colour"]),
                      **{f"gap {g}": fmt(v) for g, v in r["pairwise_acc_by_gap"].items()}}
    return pd.DataFrame(rows).T
