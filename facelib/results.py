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


def write_result(results_dir, name: str, **fields) -> Path:
    """Merge `fields` into `results_dir/<name>.json` (creating it) and return its path."""
    path = Path(results_dir) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.exists() else {"name": name}
    data.update(_jsonable(fields))
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=True))
    tmp.replace(path)
    return path


def read_results(results_dir) -> dict:
    """{name: result dict} for every results file except the summary."""
    out = {}
    for p in sorted(Path(results_dir).glob("*.json")):
        if p.stem != "summary":
            out[p.stem] = json.loads(p.read_text())
    return out


def summarize(results: dict) -> dict:
    """The summary contract: preset, data kind, the four conditions' test metrics, the
    mean-age reference (fitted on the baseline's training labels) and the pretext metrics."""
    conds = {c: results[c] for c in CONDITIONS if c in results and "test" in results[c]}
    if not conds:
        raise ValueError("no condition has test metrics yet; run notebooks 01-05 first")
    presets = {r.get("preset") for r in results.values()}
    kinds = {r.get("data") for r in results.values()}
    ref = results.get("baseline", next(iter(conds.values())))
    summary = {
        "preset": presets.pop() if len(presets) == 1 else sorted(map(str, presets)),
        "data": kinds.pop() if len(kinds) == 1 else "mixed",
        "conditions": {c: {k: r["test"][k] for k in REGRESSION_KEYS} for c, r in conds.items()},
        "reference": {"mean_predictor": {**{k: ref["mean_predictor"][k] for k in REGRESSION_KEYS},
                                         "fitted_on": ref.get("train", {}).get("dataset", "")}},
    }
    control = results.get("aihub_scratch")
    if control and "test" in control:
        summary["reference"]["aihub_scratch"] = {**{k: control["test"][k] for k in REGRESSION_KEYS},
                                                 "what": "condition 3's fine-tuning from random weights"}
    if "vcop" in results and "pretext" in results["vcop"]:
        p = results["vcop"]["pretext"]
        summary["pretext"] = {k: p[k] for k in ("top1", "top3", "exact_match", "kendall_tau",
                                                 "spearman_rho", "chance_top1")}
    return summary


def summary_table(summary: dict) -> pd.DataFrame:
    rows = {c: m for c, m in summary["conditions"].items()}
    for name, ref in summary["reference"].items():
        rows[name] = {k: v for k, v in ref.items() if k in REGRESSION_KEYS}
    return pd.DataFrame(rows).T[list(REGRESSION_KEYS)].astype({"n": int})


def write_summary(results_dir) -> dict:
    summary = _jsonable(summarize(read_results(results_dir)))
    (Path(results_dir) / "summary.json").write_text(json.dumps(summary, indent=2))
    summary_table(summary).to_csv(Path(results_dir) / "summary.csv", index_label="condition")
    return summary
