"""Intervals and verdicts: bootstrap confidence intervals of MAE and of MAE differences.

Errors come as arrays (seeds, test faces): the same test faces for every run, one row per
model seed. Every interval is a 95% percentile bootstrap with a fixed RNG, so a summary is
reproducible to the digit.
"""
from __future__ import annotations

import numpy as np

N_BOOT = 2000
NO_DIFFERENCE = "no difference shown"


def _rng():
    return np.random.default_rng(20240601)


def _interval(samples: np.ndarray) -> list[float]:
    lo, hi = np.percentile(samples, [2.5, 97.5])
    return [float(lo), float(hi)]


def mae_ci(abs_err: np.ndarray, n_boot: int = N_BOOT) -> list[float]:
    """95% interval of the MAE averaged over seeds, resampling test faces and seeds.

    abs_err: (seeds, faces) absolute errors."""
    err = np.atleast_2d(abs_err)
    s, n = err.shape
    rng = _rng()
    faces = rng.integers(0, n, (n_boot, n))
    per_seed = np.stack([err[k][faces].mean(1) for k in range(s)], 1)      # (boot, seeds)
    seeds = rng.integers(0, s, (n_boot, s))
    return _interval(np.take_along_axis(per_seed, seeds, 1).mean(1))


def paired_diff(abs_err_a: np.ndarray, abs_err_b: np.ndarray, n_boot: int = N_BOOT) -> tuple[float, list[float]]:
    """MAE(a) − MAE(b) averaged over seeds, and its 95% paired bootstrap interval over test faces
    (the same resampled faces for a and b, pooled over seeds: seed-to-seed variance is not in it)."""
    d = np.atleast_2d(abs_err_a) - np.atleast_2d(abs_err_b)                # (seeds, faces)
    per_face = d.mean(0)
    faces = _rng().integers(0, len(per_face), (n_boot, len(per_face)))
    return float(per_face.mean()), _interval(per_face[faces].mean(1))


def verdict(ci: list[float]) -> str:
    """"a better" when the whole interval of MAE(a) − MAE(b) is below 0, "b better" above 0."""
    lo, hi = ci
    return "a better" if hi < 0 else "b better" if lo > 0 else NO_DIFFERENCE


def compare(a: str, b: str, abs_err_a: np.ndarray, abs_err_b: np.ndarray) -> dict:
    """One entry of the summary's `comparisons`: {a, b, mae_diff, ci95, verdict, seeds_a_better}."""
    diff, ci = paired_diff(abs_err_a, abs_err_b)
    per_seed = np.atleast_2d(abs_err_a).mean(1) - np.atleast_2d(abs_err_b).mean(1)
    return {"a": a, "b": b, "mae_diff": diff, "ci95": ci, "verdict": verdict(ci),
            "seeds_a_better": int((per_seed < 0).sum()), "seeds": int(len(per_seed))}
