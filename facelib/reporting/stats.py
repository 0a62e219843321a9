"""Intervals and verdicts over trained models.

A verdict about a recipe is a claim about training it again, so its unit is the trained model:
every interval here includes seed-to-seed variance. Errors come as (seeds, faces) arrays, one row
per model seed (and, where the identities are split anew for each seed, per identity split).

The mean over seeds and faces has two independent sources of error: which models were trained (the
seeds) and which faces were tested (where every seed was tested on the same faces). Its variance is
a two-way cluster variance (Cameron, Gelbach & Miller 2011), by seed and by person, without the
double count:

    v = v_seeds + v_faces,   v_faces = max(0, v_persons − v_cells)

- v_seeds: the variance of the per-seed means over S (training randomness and, with a split per
  seed, the draw of the held-out people; it also holds each model's own per-face noise);
- v_persons: the cluster-robust variance of the seed-averaged per-face values, the photos of one
  person (`groups`) counted as one cluster;
- v_cells: the same clustered by (seed, person) cell: the per-face noise of each model, which both
  terms above hold, is taken out once.

The interval gives each part the t quantile of its own degrees of freedom (a Banerjee-type
interval; its level is shown by simulation, not guaranteed, and it needs many person clusters):

    mean ± sqrt(t(S − 1)² · v_seeds + t(G − 1)² · v_faces)

(G: the number of person clusters). Welch–Satterthwaite degrees of freedom are not used: estimated
from a seed variance with S − 1 degrees of freedom, they rise as that variance comes out small,
which is just when a false claim is likely (at three seeds they claimed a difference between
identical recipes in 7-8% of simulated studies). The simulations in `tests/test_stats.py` measure
the false-claim rate at 3 and 5 seeds over face/seed variance ratios from 0.05 to 2, with and
without a person-level difference: at most the nominal 5% (the interval errs on the wide side
where both parts matter), and at 5 seeds the same power as a plain seed-level t-interval where the
faces add nothing. `df` reports the effective degrees of freedom: those of the t quantile the
interval's half-width amounts to.

Where each seed has its own faces (its own held-out people), v_seeds already holds their
sampling: a t-interval over seeds with S − 1 degrees of freedom.

With fewer than MIN_SEEDS seeds no verdict is given: a seed-to-seed variance estimated from one
or two models is no basis for a claim.

Equivalence (two one-sided tests): a difference is "equivalent within ±m" when the 90% interval of
MAE(a) − MAE(b) lies inside (−m, m); the margin `EQUIVALENCE_MARGIN` was fixed on the date
`MARGIN_FIXED`, before the runs on new data.
"""
from __future__ import annotations

import numpy as np
from scipy import optimize
from scipy import stats as sps

NO_DIFFERENCE = "no difference shown"
EQUIVALENT, NOT_EQUIVALENT = "equivalent within ±{m:g} y", "not shown equivalent"
MIN_SEEDS = 3
# The equivalence margin, in years of MAE: about what a user of an age estimator would notice (half a
# year, the resolution of the ages most datasets label: whole years); fixed before the next runs.
EQUIVALENCE_MARGIN = 0.5
MARGIN_FIXED = "2026-12-06"
METHOD = ("two-way (seed × person) cluster variance over model seeds and test faces, each part with its own t "
          "quantile (seeds: S − 1 degrees of freedom)")
METHOD_OWN_FACES = ("t-interval over model seeds (S − 1 degrees of freedom), each seed measured on its own faces "
                    "(their sampling is in the seed-to-seed spread)")


def _rows(x) -> tuple[list[np.ndarray], bool]:
    """Per-seed 1-D float arrays, and whether every seed was measured on the same faces: a 2-D
    array means the same faces in every seed, a list of arrays each seed's own faces."""
    if isinstance(x, np.ndarray):
        x = np.atleast_2d(np.asarray(x, dtype=float))
        return list(x), True
    rows = [np.asarray(r, dtype=float).ravel() for r in x]
    return rows, len(rows) == 1


def _clusters(n: int, groups) -> np.ndarray:
    return np.unique(np.arange(n) if groups is None else np.asarray(groups), return_inverse=True)[1].ravel()


def variance_parts(x: np.ndarray, groups=None) -> tuple[float, float, int]:
    """(v_seeds, v_faces, person clusters) of the grand mean of a (seeds, faces) array measured on
    the same faces in every seed (see the module doc)."""
    s, n = x.shape
    g = _clusters(n, groups)
    k = int(g.max()) + 1
    sizes = np.bincount(g, minlength=k)
    r = x - x.mean()
    sums = np.stack([np.bincount(g, weights=row, minlength=k) for row in r])  # (seeds, persons)
    persons = float((sums.sum(0) ** 2).sum())
    if s == 1:
        return 0.0, persons / n ** 2 * k / (k - 1) if k > 1 else 0.0, k
    seed_dev = x.mean(1) - x.mean()
    v_seeds = float((seed_dev ** 2).sum() / (s - 1) / s)
    # Each person's sums vary from seed to seed by more than the seeds' offsets: each model's own
    # errors on that person. They are in v_seeds already; taken out of the persons' part once.
    interaction = sums - sums.mean(0) - np.outer(seed_dev, sizes)
    own = s * float((interaction ** 2).sum()) / (s - 1)
    v_faces = max(0.0, persons - own) / (s * n) ** 2 * k / (k - 1) if k > 1 else 0.0
    return v_seeds, v_faces, k


def _effective_df(ratio: float, q: float) -> float:
    """The degrees of freedom whose t quantile `q` equals `ratio` (half-width / standard error)."""
    if ratio <= sps.t.ppf(q, 1e7):
        return float("inf")
    if ratio >= sps.t.ppf(q, 1):
        return 1.0
    return float(np.exp(optimize.brentq(lambda ld: sps.t.ppf(q, np.exp(ld)) - ratio, 0.0, np.log(1e7))))


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
    q = 0.5 + level / 2
    if shared:
        if groups is not None and not isinstance(groups, np.ndarray) and s == 1 and np.ndim(groups[0]) == 1:
            groups = groups[0]
        v_seeds, v_faces, k = variance_parts(np.array(rows), groups)
    else:
        v_seeds, v_faces, k = float(per_seed.var(ddof=1) / s) if s > 1 else 0.0, 0.0, 0
    t_seeds = sps.t.ppf(q, s - 1) if s > 1 else 0.0
    t_faces = sps.t.ppf(q, max(1, k - 1)) if v_faces > 0 else 0.0
    half = float(np.sqrt(t_seeds ** 2 * v_seeds + t_faces ** 2 * v_faces))
    se = float(np.sqrt(v_seeds + v_faces))
    df = _effective_df(half / se, q) if se > 0 else float("inf")
    return {"mean": mean, "ci95": [mean - half, mean + half], "se": se, "df": df, "seeds": s,
            "per_seed": per_seed.tolist(), "shared_faces": bool(shared), "level": level}


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


def equivalence(ci90: list[float], margin: float = EQUIVALENCE_MARGIN, seeds: int = MIN_SEEDS) -> str:
    """Two one-sided tests at 5% each: "equivalent within ±m y" when the 90% interval lies inside
    (−m, m), else "not shown equivalent" (always with fewer than MIN_SEEDS seeds)."""
    if seeds >= MIN_SEEDS and -margin < ci90[0] and ci90[1] < margin:
        return EQUIVALENT.format(m=margin)
    return NOT_EQUIVALENT


def power_at_margin(se: float, df: float, margin: float = EQUIVALENCE_MARGIN) -> dict:
    """At a comparison's observed standard error and effective degrees of freedom: the chance of a
    verdict when the true difference is ±margin (noncentral t: 5% when the margin is 0), and of
    showing equivalence when it is 0 (normal approximation of the estimate). What studies of this
    size and spread can find, not a property of the result."""
    if se <= 0:
        return {"find_difference": 1.0, "show_equivalence": 1.0, "margin": margin}
    q95, q90 = sps.t.ppf(0.975, df), sps.t.ppf(0.95, df)
    z = margin / se
    # The lower tail P(T < -q | z) is taken as P(T > q | -z): scipy's nct.cdf returns NaN far in that tail.
    return {"find_difference": float(sps.nct.sf(q95, df, z) + sps.nct.sf(q95, df, -z)),
            "show_equivalence": float(max(0.0, 2 * sps.norm.cdf(z - q90) - 1)), "margin": margin}


def compare(a: str, b: str, abs_err_a, abs_err_b, groups=None, margin: float = EQUIVALENCE_MARGIN) -> dict:
    """One comparison of two arms trained with the same seeds (seed k of a paired with seed k of b):
    {a, b, mae_diff, ci95, verdict, ci90, equivalence, margin, power_at_margin, seeds_a_better, seeds,
    per_seed_diff, method[, why]}.

    abs_err_a, abs_err_b: (seeds, faces) absolute errors of each arm, on the same faces within a
        seed (lists of per-seed arrays where each seed has its own faces).
    groups: the person of each face (see `mean_interval`)."""
    (ra, shared), (rb, _) = _rows(abs_err_a), _rows(abs_err_b)
    if len(ra) != len(rb) or any(len(x) != len(y) for x, y in zip(ra, rb)):
        raise ValueError(f"{a} and {b}: errors must be paired seed by seed and face by face "
                         f"({[len(x) for x in ra]} against {[len(y) for y in rb]})")
    diff = [x - y for x, y in zip(ra, rb)]
    d = np.array(diff) if shared else diff
    iv, iv90 = mean_interval(d, groups), mean_interval(d, groups, level=0.90)
    per_seed = np.array(iv["per_seed"])
    out = {"a": a, "b": b, "mae_diff": iv["mean"], "ci95": iv["ci95"], "verdict": verdict(iv["ci95"], iv["seeds"]),
           "ci90": iv90["ci95"], "equivalence": equivalence(iv90["ci95"], margin, iv["seeds"]), "margin": margin,
           "power_at_margin": power_at_margin(iv["se"], iv["df"], margin),
           "seeds_a_better": int((per_seed < 0).sum()), "seeds": iv["seeds"],
           "per_seed_diff": per_seed.round(4).tolist(),
           "method": METHOD if iv["shared_faces"] else METHOD_OWN_FACES}
    if iv["seeds"] < MIN_SEEDS:
        out["why"] = (f"{iv['seeds']} model seed{'s' if iv['seeds'] != 1 else ''}: at least {MIN_SEEDS} are needed "
                      "to estimate seed-to-seed variance, so no difference is stated")
    return out
