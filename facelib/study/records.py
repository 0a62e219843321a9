"""The one results format: `outputs/seed<k>/results/<name>.json`, one record per trained run, written
by the recipes and the evaluation and read by the summary (`reporting/results.py`)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def jsonable(o):
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
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
    data.update(jsonable(fields))
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
