"""The one results format: `outputs/results/<name>.json`, merged as a run progresses,
and the summary that 06_eval-all writes."""
from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import pandas as pd

from .config import CONDITIONS

REGRESSION_KEYS = ("mae", "rmse", "r2", "ca3", "ca5", "n")


def versions() -> dict:
    import torch
    import torchvision
    from . import __version__
    return {"facelib": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
            "numpy": np.__version__, "pandas": pd.__version__, "python": platform.python_version()}


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    return o


def write_result(results_dir, name: str, fresh: bool = False, **fields) -> Path:
    """Merge `fields` into `results_dir/<name>.json` (creating it) and return its path.

    fresh: start the file anew (a training run does), so no field of an earlier run survives."""
    path = Path(results_dir) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.exists() and not fresh else {"name": name}
    data.update(_jsonable(fields))
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=True))
    tmp.replace(path)
    return path


def read_results(results_dir) -> dict:
    """{name: result dict} for every results file in one folder, except the summary."""
    out = {}
    for p in sorted(Path(results_dir).glob("*.json")):
        if p.stem != "summary":
            out[p.stem] = json.loads(p.read_text())
    return out


# Runs the summary compares; `aihub_scratch` is the control of condition 3, reported beside the four.
CONTROL = "aihub_scratch"
COMPARED = (*CONDITIONS, CONTROL)


def collect(paths, seeds) -> tuple[dict, list[str]]:
    """The results of each model seed that still describe the weights and data in place, and a
    warning for every file left out or every inconsistency: {seed: {name: result}}, [warnings].

    A results file is stale when its weights were trained again since (another run id), when the
    prepared data it was trained or tested on changed, or when its seed is not one of `seeds`."""
    from .data.prepare import FaceCache
    from .train import load_checkpoint

    hashes = {}
    for name in ("utkface", "megaage_asian", "aihub", "fgnet"):
        try:
            hashes[name] = FaceCache(paths.cache_dir, name).split_hashes
        except FileNotFoundError:
            hashes[name] = {}
    per_seed, warnings = {}, []
    for seed in seeds:
        sp = paths.for_seed(seed)
        kept = {}
        for name, r in read_results(sp.results_dir).items():
            why = _stale(r, sp, hashes, load_checkpoint)
            if why:
                warnings.append(f"seed {seed}: {sp.rel(sp.results_dir / (name + '.json'))} left out: {why}")
            else:
                kept[name] = r
        per_seed[seed] = kept
    others = sorted(int(p.name[4:]) for p in Path(paths.out_dir).glob("seed*")
                    if p.name[4:].isdigit() and int(p.name[4:]) not in seeds)
    if others:
        warnings.append(f"results of seeds {others} lie in {paths.rel(paths.out_dir)} but are not part of "
                        f"this summary (seeds {list(seeds)})")
    runs = [r for rs in per_seed.values() for r in rs.values() if "run_id" in r]
    for key, what in (("preset", "presets"), ("data", "data kinds"), ("data_seed", "data seeds")):
        values = sorted({str(r.get(key)) for r in runs})
        if len(values) > 1:
            warnings.append(f"results come from different {what}: {', '.join(values)}")
    return per_seed, warnings


def _stale(r: dict, paths, hashes: dict, load_checkpoint) -> str:
    if "run_id" not in r:
        return ""  # not a training record (data.json)
    w = paths.root / r.get("weights", "")
    if not w.is_file():
        return f"its weights {r.get('weights')} are gone"
    trained = load_checkpoint(w).get("run_id")
    if trained != r["run_id"]:
        return f"{r.get('weights')} was trained again since (run {trained}, this file: run {r['run_id']})"
    for key, h in r.get("data_hashes", {}).items():
        dataset, split = key.split("/", 1)
        if hashes.get(dataset, {}).get(split, h) != h:
            return f"it was trained on other {key} data than the cache now holds"
    test, where = r.get("test_data_hash"), r.get("test", {})
    dataset, split = where.get("dataset", "megaage_asian"), where.get("split", "test")
    if test and hashes.get(dataset, {}).get(split, test) != test:
        return f"it was tested on other {dataset}/{split} data than the cache now holds"
    return ""


def abs_errors(per_seed: dict, name: str, root) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(|pred − age| (seeds, faces), |mean − age| (seeds, faces), ages) of a run tested in every seed."""
    errs, mean_errs, ages = [], [], None
    for results in per_seed.values():
        r = results.get(name)
        if not r or "test" not in r or not r.get("predictions"):
            return None
        df = pd.read_csv(Path(root) / r["predictions"]).sort_values("index")
        if ages is not None and not np.array_equal(ages, df["age"].to_numpy()):
            raise ValueError(f"{name}: seeds were tested on different faces")
        ages = df["age"].to_numpy()
        errs.append(np.abs(df["pred"].to_numpy() - ages))
        mean_errs.append(np.abs(r["mean_predictor"]["predicts"] - ages))
    return np.stack(errs), np.stack(mean_errs), ages


def val_errors(per_seed: dict, name: str) -> np.ndarray | None:
    """|pred − age| (seeds, faces) of a run on its own validation split, where every seed has them."""
    errs = [rs.get(name, {}).get("val", {}).get("abs_errors") for rs in per_seed.values()]
    if not errs or any(e is None for e in errs) or len({len(e) for e in errs}) != 1:
        return None
    return np.array(errs, dtype=float)


def _condition_block(per_seed: dict, name: str, err, mean_err) -> dict:
    from .stats import mae_ci, paired_diff
    tests = [rs[name]["test"] for rs in per_seed.values()]
    block = {k: float(np.mean([t[k] for t in tests])) for k in ("mae", "rmse", "r2", "ca3", "ca5")}
    _, ci_vs_mean = paired_diff(err, mean_err)
    block.update(n=int(tests[0]["n"]), mae_seeds=[float(t["mae"]) for t in tests], mae_ci95=mae_ci(err),
                 beats_mean_predictor=bool(ci_vs_mean[1] < 0), mean_predictor_mae=float(mean_err.mean()))
    vals = [rs[name]["val"] for rs in per_seed.values() if "mae" in rs[name].get("val", {})]
    if vals:  # fit against transfer: the MAE on the run's own validation split beside its test MAE
        block.update(val_mae=float(np.mean([v["mae"] for v in vals])), val_dataset=vals[0].get("dataset", ""))
    return block


def summarize(per_seed: dict, root, warnings=()) -> dict:
    """The summary contract: preset, data kind, the four conditions' test metrics (means over model
    seeds, with `mae_seeds`, `mae_ci95` and `beats_mean_predictor`), the mean-age reference (fitted
    on the baseline's training labels), the control, `comparisons` with verdicts, the pretext
    metrics, each run's training budget and, when it was run, `label_efficiency`."""
    from .stats import compare
    errors = {n: e for n in COMPARED if (e := abs_errors(per_seed, n, root)) is not None}
    conds = [c for c in CONDITIONS if c in errors]
    if not conds:
        raise ValueError("no condition has test metrics in every seed yet; run notebooks 01-05 first")
    runs = [r for rs in per_seed.values() for r in rs.values() if "run_id" in r]
    presets, kinds = {r.get("preset") for r in runs}, {r.get("data") for r in runs}
    first = next(iter(per_seed.values()))
    ref = first.get("baseline", first[conds[0]])
    summary = {
        "preset": presets.pop() if len(presets) == 1 else sorted(map(str, presets)),
        "data": kinds.pop() if len(kinds) == 1 else "mixed",
        "seeds": sorted(per_seed),
        "test_set": first[conds[0]]["test"].get("test_set", "megaage_asian"),
        "identities": first[conds[0]].get("config", {}).get("identities", "aihub"),
        "conditions": {c: _condition_block(per_seed, c, *errors[c][:2]) for c in conds},
        "reference": {"mean_predictor": {**{k: ref["mean_predictor"][k] for k in REGRESSION_KEYS},
                                         "fitted_on": ref.get("train", {}).get("dataset", "")}},
    }
    if CONTROL in errors:
        summary["reference"][CONTROL] = {**_condition_block(per_seed, CONTROL, *errors[CONTROL][:2]),
                                         "what": "condition 3's fine-tuning without the order pretraining"}
    pairs = [(c, "baseline") for c in conds if c != "baseline" and "baseline" in errors]
    pairs += [(c, CONTROL) for c in ("vcop_downstream", "multitrain") if c in errors and CONTROL in errors]
    summary["comparisons"] = [compare(a, b, errors[a][0], errors[b][0]) for a, b in pairs]
    own = [(a, b) for a, b in pairs if b == CONTROL and (ea := val_errors(per_seed, a)) is not None
           and (eb := val_errors(per_seed, b)) is not None and ea.shape == eb.shape]
    if own:  # on the identities' own held-out people, where conditions 3, 4 and the control are fitted
        val = next(iter(per_seed.values()))[own[0][0]]["val"]
        summary["comparisons_own_val"] = [{**compare(a, b, val_errors(per_seed, a), val_errors(per_seed, b)),
                                           "split": f"{val['dataset']}/{val['split']}"} for a, b in own]
    pretexts = [rs["vcop"]["pretext"] for rs in per_seed.values() if "pretext" in rs.get("vcop", {})]
    if pretexts:
        keys = ("top1", "top3", "exact_match", "kendall_tau", "spearman_rho", "chance_top1", "pairwise_acc",
                "pairwise_acc_same_colour", "pairwise_acc_mixed_colour")
        summary["pretext"] = {k: float(np.mean(v)) for k in keys
                              if (v := [p[k] for p in pretexts if p.get(k) is not None])}
        summary["pretext"]["top1_seeds"] = [p["top1"] for p in pretexts]
        summary["pretext"]["kendall_tau_seeds"] = [p["kendall_tau"] for p in pretexts]
    summary["budget"] = budget_table(per_seed)
    curve = label_efficiency(per_seed, root)
    if curve:
        summary["label_efficiency"] = curve
    summary["warnings"] = list(warnings)
    return summary


def budget_table(per_seed: dict) -> dict:
    """{run: images seen, epochs, optimizer steps, wall seconds}, averaged over seeds."""
    out = {}
    for name in ("vcop", *CONDITIONS, CONTROL):
        rows = [rs[name]["budget"] for rs in per_seed.values() if "budget" in rs.get(name, {})]
        if rows:
            out[name] = {k: float(np.mean([r[k] for r in rows])) for k in ("images_seen", "epochs", "steps", "seconds")}
    return out


def label_efficiency(per_seed: dict, root) -> dict:
    """Condition 3 against its control at each share of the fine-tuning labels that both ran
    in every seed: MAE, interval, and the paired comparison with its verdict."""
    from .stats import compare, mae_ci
    names = {n for rs in per_seed.values() for n in rs}
    fractions = sorted({int(n.rsplit("_labels", 1)[1]) for n in names
                        if n.startswith("vcop_downstream_labels") and f"{CONTROL}_labels{n.rsplit('_labels', 1)[1]}" in names})
    if not fractions:
        return {}
    curve = {"fractions": [], "vcop_downstream": {"mae": [], "ci95": []}, CONTROL: {"mae": [], "ci95": []},
             "comparisons": []}
    for pct in [*fractions, 100]:
        suffix = "" if pct == 100 else f"_labels{pct}"
        e3, ec = abs_errors(per_seed, "vcop_downstream" + suffix, root), abs_errors(per_seed, CONTROL + suffix, root)
        if e3 is None or ec is None:
            continue
        curve["fractions"].append(pct / 100)
        for name, e in (("vcop_downstream", e3), (CONTROL, ec)):
            curve[name]["mae"].append(float(e[0].mean()))
            curve[name]["ci95"].append(mae_ci(e[0]))
        curve["comparisons"].append({"fraction": pct / 100, **compare("vcop_downstream", CONTROL, e3[0], ec[0])})
    return curve


def summary_table(summary: dict) -> pd.DataFrame:
    rows = {c: m for c, m in summary["conditions"].items()}
    for name, ref in summary["reference"].items():
        rows[name] = {k: v for k, v in ref.items() if k in REGRESSION_KEYS}
    return pd.DataFrame(rows).T[list(REGRESSION_KEYS)].astype({"n": int})


def write_summary(paths, seeds) -> dict:
    """Collect the results of `seeds`, summarise them into outputs/results/summary.json and
    summary.csv, and return the summary (its `warnings` list every file left out)."""
    per_seed, warnings = collect(paths, seeds)
    summary = _jsonable(summarize(per_seed, paths.root, warnings))
    paths.results_dir.mkdir(parents=True, exist_ok=True)
    (paths.results_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    summary_table(summary).to_csv(paths.results_dir / "summary.csv", index_label="condition")
    return summary
