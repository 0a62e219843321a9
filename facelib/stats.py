"""Intervals and verdicts over trained models.

A verdict about a recipe is a claim about training it again, so its unit is the trained model:
every interval here includes seed-to-seed variance. Errors come as (seeds, faces) arrays, one row
per model seed (and, where the identities are split anew for each seed, per identity split).

The interval of a mean over seeds is a t-interval:

    mean ± t(0.975, df) · sqrt(s²_seeds / S + v_faces)

- s²_seeds: the variance of the per-seed means (training randomness and, with a split per seed,
  the draw of the held-out people);
- v_faces: where every seed was measured on the same faces (a fixed test split), the sampling
  variance of those faces: a cluster-robust variance of the seed-averaged per-face values, the
  photos of one person (`groups`) counted as one cluster. Where each seed has its own faces (its
  own held-out people), s²_seeds already holds that variance and v_faces is 0;
- df: Welch–Satterthwaite between the two parts (S − 1 when the seeds dominate).

The two parts overlap a little: a model's own per-face noise moves its seed's mean and, by 1/S, the
seed-averaged per-face values, so it is counted twice; the interval errs on the wide side (at most
by sqrt(2)).

With fewer than MIN_SEEDS seeds no verdict is given: a seed-to-seed variance estimated from one
or two models is no basis for a claim.
"""
from __future__ import annotations

import numpy as np
from scipy import stats as sps

NO_DIFFERENCE = "no difference shown"
MIN_SEEDS = 3
METHOD = "t-interval over model seeds, with the variance of the test faces (clustered by person) added"
METHOD_OWN_FACES = ("t-interval over model seeds, each seed measured on its own faces (their sampling is in the "
                    "seed-to-seed spread)")


def _rows(x) -> tuple[list[np.ndarray], bool]:
    """Per-seed 1-D float arrays, and whether every seed was measured on the same faces: a 2-D
    array means the same faces in every seed, a list of arrays each seed's own faces."""
    if isinstance(x, np.ndarray):
        x = np.atleast_2d(np.asarray(x, dtype=float))
        return list(x), True
    rows = [np.asarray(r, dtype=float).ravel() for r in x]
    return rows, len(rows) == 1


def _face_variance(per_face: np.ndarray, groups) -> tuple[float, int]:
    """Cluster-robust sampling variance of the mean of `per_face`, and the number of clusters."""
    n = len(per_face)
    _, g = np.unique(np.arange(n) if groups is None else np.asarray(groups), return_inverse=True)
    sums = np.bincount(g, weights=per_face - per_face.mean())
    k = len(sums)
    if k < 2:
        return 0.0, k
    return float((sums ** 2).sum() / n ** 2 * k / (k - 1)), k


def mean_interval(x, groups=None, level: float = 0.95) -> dict:
    """The mean over seeds of each seed's mean of `x`, with its interval (see the module doc).

    x: a (seeds, faces) array of values (absolute errors, or their differences between two arms)
        measured on the same faces in every seed, or a list of per-seed arrays, each seed measured
        on its own faces (its own held-out people).
    groups: the person of each face, whose photos count as one cluster: (faces,) for an array; for
        a list, the groups of its one seed when it has one (more seeds carry that variance
        themselves). None: each face its own person."""
    rows, shared = _rows(x)
    per_seed = np.array([r.mean() for r in rows])
    s = len(rows)
    mean = float(per_seed.mean())
    v_seed = float(per_seed.var(ddof=1) / s) if s > 1 else 0.0
    v_face, k = 0.0, 0
    if shared:
        if groups is not None and not isinstance(groups, np.ndarray) and s == 1 and np.ndim(groups[0]) == 1:
            groups = groups[0]
        v_face, k = _face_variance(np.mean(rows, axis=0), groups)
    parts = ([(v_seed, s - 1)] if s > 1 else []) + ([(v_face, max(1, k - 1))] if v_face > 0 else [])
    denom = sum(v ** 2 / d for v, d in parts)
    df = (v_seed + v_face) ** 2 / denom if denom > 0 else float("inf")
    se = float(np.sqrt(v_seed + v_face))
    half = float(sps.t.ppf(0.5 + level / 2, df) * se) if se > 0 else 0.0
    return {"mean": mean, "ci95": [mean - half, mean + half], "se": se, "df": float(df), "seeds": s,
            "per_seed": per_seed.tolist(), "shared_faces": bool(shared)}


def mae_ci(abs_err, groups=None) -> list[float]:
    """95% interval of a run's MAE over seeds (abs_err: (seeds, faces) absolute errors)."""
    return mean_interval(abs_err, groups)["ci95"]


def verdict(ci: list[float], seeds: int = MIN_SEEDS) -> str:
    """"a better" when the whole interval of MAE(a) − MAE(b) is below 0, "b better" when above;
    "no difference shown" otherwise, and always with fewer than MIN_SEEDS seeds."""
    if seeds < MIN_SEEDS:
        return NO_DIFFERENCE
    lo, hi = ci
    return "a better" if hi < 0 else "b better" if lo > 0 else NO_DIFFERENCE


def compare(a: str, b: str, abs_err_a, abs_err_b, groups=None) -> dict:
    """One comparison of two arms trained with the same seeds (seed k of a paired with seed k of b):
    {a, b, mae_diff, ci95, verdict, seeds_a_better, seeds, per_seed_diff, method[, why]}.

    abs_err_a, abs_err_b: (seeds, faces) absolute errors of each arm, on the same faces within a
        seed (lists of per-seed arrays where each seed has its own faces).
    groups: the person of each face (see `mean_interval`)."""
    (ra, shared), (rb, _) = _rows(abs_err_a), _rows(abs_err_b)
    if len(ra) != len(rb) or any(len(x) != len(y) for x, y in zip(ra, rb)):
        raise ValueError(f"{a} and {b}: errors must be paired seed by seed and face by face "
                         f"({[len(x) for x in ra]} against {[len(y) for y in rb]})")
    diff = [x - y for x, y in zip(ra, rb)]
    iv = mean_interval(np.array(diff) if shared else diff, groups)
    per_seed = np.array(iv["per_seed"])
    out = {"a": a, "b": b, "mae_diff": iv["mean"], "ci95": iv["ci95"], "verdict": verdict(iv["ci95"], iv["seeds"]),
           "seeds_a_better": int((per_seed < 0).sum()), "seeds": iv["seeds"],
           "per_seed_diff": per_seed.round(4).tolist(),
           "method": METHOD if iv["shared_faces"] else METHOD_OWN_FACES}
    if iv["seeds"] < MIN_SEEDS:
        out["why"] = (f"{iv['seeds']} model seed{'s' if iv['seeds'] != 1 else ''}: at least {MIN_SEEDS} are needed "
                      "to estimate seed-to-seed variance, so no difference is stated")
    return out
