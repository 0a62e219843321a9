"""Regression and order metrics, with their reference points (mean predictor, chance)."""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

# The one age-group table: MAE by group, the derived group classification, predict's groups.
AGE_GROUPS = [(0, 9), (10, 19), (20, 29), (30, 39), (40, 49), (50, 59), (60, 69), (70, 200)]


def group_label(lo, hi):
    return f"{lo}+" if hi >= 200 else f"{lo}-{hi}"


def age_group(age: float) -> str:
    """The label of the group an age falls in ("30-39", "70+")."""
    for lo, hi in AGE_GROUPS:
        if age < hi + 1:
            return group_label(lo, hi)
    return group_label(*AGE_GROUPS[-1])


def regression_metrics(pred, true) -> dict:
    """MAE, RMSE, R², CA(3), CA(5) (share of |error| <= 3 / 5 years), MAE by age group, n."""
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    err = pred - true
    ss_tot = ((true - true.mean()) ** 2).sum()
    by_group = {}
    for lo, hi in AGE_GROUPS:
        m = (true >= lo) & (true < hi + 1)
        if m.any():
            by_group[group_label(lo, hi)] = float(np.abs(err[m]).mean())
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err ** 2).mean())),
        "r2": float(1 - (err ** 2).sum() / ss_tot) if ss_tot > 0 else float("nan"),
        "ca3": float((np.abs(err) <= 3).mean()),
        "ca5": float((np.abs(err) <= 5).mean()),
        "mae_by_group": by_group,
        "n": int(len(true)),
    }


def mean_predictor_metrics(train_ages, true) -> dict:
    """The reference every regressor is shown beside: always predict the training mean."""
    mean = float(np.mean(train_ages))
    return {**regression_metrics(np.full(len(true), mean), true), "predicts": mean}


def order_metrics(logits, labels, perms, ages=None, gap_bins=(0, 5, 10, 20, 40, 200), grey=None) -> dict:
    """Top-1, top-3, exact match, mean Kendall tau and Spearman rho between predicted and
    true orders, pairwise order accuracy by age gap, and their chance levels.

    logits (N, T!), labels (N,), perms (T!, T), ages (N, T) in shown order (for the gap table).
    grey (N, T) bool, in shown order: which photos have no colour. Adds the pairwise accuracy on
    pairs of the same kind (both colour or both grey), where colour cannot tell the order, and on
    mixed pairs, where it can (older photos are more often greyscale).
    """
    logits, labels, perms = np.asarray(logits), np.asarray(labels), np.asarray(perms)
    n_perm, t = perms.shape
    order = np.argsort(-logits, axis=1)
    top1 = order[:, 0]
    pred_r, true_r = perms[top1], perms[labels]
    taus, rhos = [], []
    for p, q in zip(pred_r, true_r):
        taus.append(stats.kendalltau(p, q).statistic)
        rhos.append(stats.spearmanr(p, q).statistic)
    out = {
        "top1": float((top1 == labels).mean()),
        "top3": float((order[:, :3] == labels[:, None]).any(1).mean()),
        "exact_match": float((top1 == labels).mean()),
        "kendall_tau": float(np.mean(taus)),
        "spearman_rho": float(np.mean(rhos)),
        "chance_top1": 1 / n_perm,
        "chance_top3": min(3, n_perm) / n_perm,
        "chance_kendall_tau": 0.0,
        "chance_pairwise": 0.5,
        "n": int(len(labels)),
    }
    k, l = np.triu_indices(t, 1)
    correct = np.sign(pred_r[:, l] - pred_r[:, k]) == np.sign(true_r[:, l] - true_r[:, k])
    out["pairwise_acc"] = float(correct.mean())
    if ages is not None:
        gaps = np.abs(np.asarray(ages)[:, l] - np.asarray(ages)[:, k])
        table = {}
        for lo, hi in zip(gap_bins[:-1], gap_bins[1:]):
            m = (gaps >= lo) & (gaps < hi)
            if m.any():
                table[f"{lo}-{hi}" if hi < 200 else f"{lo}+"] = {"acc": float(correct[m].mean()), "n": int(m.sum())}
        out["pairwise_acc_by_gap"] = table
    if grey is not None:
        grey = np.asarray(grey, dtype=bool)
        same = grey[:, l] == grey[:, k]
        for name, m in (("same_colour", same), ("mixed_colour", ~same)):
            out[f"pairwise_acc_{name}"] = float(correct[m].mean()) if m.any() else None
            out[f"pairs_{name}"] = int(m.sum())
    return out


def factorial(t):
    return math.factorial(t)
