"""`facelib compare-results A B`: are two runs' result files equal, field by field?

Every results file (`**/results/*.json`, the summary among them), every test-predictions file and
every training history of two outputs folders is compared value by value. Left out, by name, because
they say when, where or by which commit a run was made, not what it learned: wall times (any field or
column whose name holds "seconds"), the commit (`git`, `commits`, and commit ids inside sentences),
run ids (`run_id`), paths (`weights`, `history`, `predictions`, `data_root`) and the data folder's
fingerprint (`data_hash`: its files' names, sizes and times; the split hashes of their contents are
compared). Two runs of the same code on the same data and seeds give no
difference on a CPU (`facelib run` seeds every epoch).

`compare_homes A B` (`facelib compare-results --homes`) looks under two FACELIB_HOME folders at what
the runs learned and read, where a result differs: every weights file's tensors, bitwise, and every
cached face crop, counted by dataset, split and framing (a checkpoint's model tensors are compared, not
its bytes: it also holds times). Equal models with different test results point at the test faces or
at the evaluation code; which crops differ tells the first."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..checkpoints import load_checkpoint

LEFT_OUT = ("seconds", "git", "commits", "run_id", "weights", "history", "predictions", "data_root", "data_hash")
COMMIT = re.compile(r"\b[0-9a-f]{10,40}\b")


def _left_out(key: str) -> bool:
    return "seconds" in key or key in LEFT_OUT


def _diff(a, b, where: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted({*a, *b}):
            if _left_out(str(k)):
                continue
            if k not in a or k not in b:
                out.append(f"{where}.{k}: only in {'B' if k not in a else 'A'}")
            else:
                _diff(a[k], b[k], f"{where}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{where}: {len(a)} items against {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, f"{where}[{i}]", out)
    elif isinstance(a, str) and isinstance(b, str):
        if COMMIT.sub("<commit>", a) != COMMIT.sub("<commit>", b):
            out.append(f"{where}: {a!r} against {b!r}")
    elif a != b and not (a != a and b != b):  # NaN equals NaN here
        out.append(f"{where}: {a!r} against {b!r}")


def _files(root: Path) -> dict:
    files = {}
    for pattern in ("**/results/*.json", "**/results/predictions/*.csv", "**/runs/**/history.csv"):
        for p in root.glob(pattern):
            files[str(p.relative_to(root))] = p
    return files


def compare_results(a_dir, b_dir) -> tuple[list[str], int]:
    """(the differences between two outputs folders, the number of files compared)."""
    a, b = _files(Path(a_dir)), _files(Path(b_dir))
    out = [f"{name}: only in {'A' if name in a else 'B'}" for name in sorted(set(a) ^ set(b))]
    for name in sorted(set(a) & set(b)):
        if name.endswith(".json"):
            _diff(json.loads(a[name].read_text()), json.loads(b[name].read_text()), name, out)
        else:
            da, db = (pd.read_csv(p, keep_default_na=False) for p in (a[name], b[name]))
            da, db = (d[[c for c in d.columns if not _left_out(c)]] for d in (da, db))
            if list(da.columns) != list(db.columns) or da.shape != db.shape or not da.equals(db):
                out.append(f"{name}: the tables differ")
    return out, len(set(a) & set(b))


def _same_weights(a: Path, b: Path) -> bool:
    ma, mb = load_checkpoint(a)["model"], load_checkpoint(b)["model"]
    return ma.keys() == mb.keys() and all(torch.equal(ma[k], mb[k]) for k in ma)


def _only(a_home: Path, b_home: Path, pattern: str) -> tuple[list[Path], list[str]]:
    """(the paths under both homes, a line for each path under one only)."""
    a, b = ({p.relative_to(home) for p in home.glob(pattern)} for home in (a_home, b_home))
    return sorted(a & b), [f"{p}: only in {'A' if p in a else 'B'}" for p in sorted(a ^ b)]


def _rows_that_differ(xa: np.ndarray, xb: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Which rows of two memory-mapped crop arrays of one shape differ, a chunk of rows at a time."""
    return np.concatenate([(xa[i:i + chunk] != xb[i:i + chunk]).reshape(len(xa[i:i + chunk]), -1).any(axis=1)
                           for i in range(0, len(xa), chunk)] or [np.zeros(0, dtype=bool)])


def compare_homes(a_home, b_home) -> tuple[list[str], list[str]]:
    """(the differences, what was found equal) between the weights and cached crops of two homes.
    Raises FileNotFoundError where a home has no weights or no cached crops to compare."""
    a_home, b_home = Path(a_home), Path(b_home)
    for home in (a_home, b_home):
        if not any(home.glob("weights/**/*.pt")) or not any(home.glob("data/cache/*/*.npy")):
            raise FileNotFoundError(f"{home}: no weights/**/*.pt or data/cache/*/*.npy: is it a FACELIB_HOME "
                                    "that has run?")
    shared, diffs = _only(a_home, b_home, "weights/**/*.pt")
    differ = [p for p in shared if not _same_weights(a_home / p, b_home / p)]
    diffs += [f"{p}: the model's tensors differ" for p in differ]
    same = [f"{len(shared) - len(differ)} of {len(shared)} weights files hold bitwise-equal model tensors"]
    caches, only = _only(a_home, b_home, "data/cache/*/*.npy")
    diffs += only
    for rel in caches:
        ca, cb = a_home / rel, b_home / rel
        ma, mb = (pd.read_csv(c.with_suffix(".csv"), keep_default_na=False) for c in (ca, cb))
        xa, xb = np.load(ca, mmap_mode="r"), np.load(cb, mmap_mode="r")
        if xa.shape != xb.shape or not ma.equals(mb):
            diffs.append(f"{rel}: other faces ({xa.shape[0]} crops against {xb.shape[0]}, or other labels)")
            continue
        rows = _rows_that_differ(xa, xb)
        if rows.any():
            counts = ma[rows].groupby(["split", "framing"]).size()
            diffs.append(f"{rel}: {rows.sum()} of {len(rows)} crops differ ("
                         + "; ".join(f"{s}, {f}: {n}" for (s, f), n in counts.items()) + ")")
        else:
            same.append(f"{rel}: all {len(rows)} crops equal")
    return diffs, same
