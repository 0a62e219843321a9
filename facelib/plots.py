"""Figures the notebooks show. Each function returns a matplotlib Figure and, given
`save`, writes it as PNG too."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .metrics import AGE_GROUPS, group_label

CONDITION_COLOURS = {"baseline": "#4C72B0", "korean_finetuned": "#DD8452", "vcop_downstream": "#55A868",
                     "multitrain": "#C44E52", "mean_predictor": "#8C8C8C", "vcop": "#8172B3",
                     "aihub_scratch": "#A6D9B0"}


def _save(fig, save):
    if save:
        Path(save).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(save, dpi=110, bbox_inches="tight")
    return fig


def data_banner(synthetic: bool) -> str:
    if synthetic:
        return ("DATA: SYNTHETIC faces from facelib.synth. Numbers below describe this toolkit on generated "
                "faces, not real-world age estimation.")
    return "DATA: real datasets."


def face_grid(cache, split=None, per_group: int = 6, groups=AGE_GROUPS, title="", save=None, seed=0):
    """Rows of faces per age group (random picks), labelled with their ages."""
    m = cache.manifest if split is None else cache.split(split)
    rng = np.random.default_rng(seed)
    rows = []
    for lo, hi in groups:
        g = m[(m["age"] >= lo) & (m["age"] < hi + 1)]
        if len(g):
            rows.append((group_label(lo, hi), g.iloc[rng.permutation(len(g))[:per_group]]))
    fig, axes = plt.subplots(len(rows), per_group, figsize=(per_group * 1.1, len(rows) * 1.25), squeeze=False)
    for r, (label, g) in enumerate(rows):
        for c in range(per_group):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(g):
                row = g.iloc[c]
                ax.imshow(cache.images[int(row["index"])])
                ax.set_title(f"{row['age']:.0f}", fontsize=8)
        axes[r, 0].text(-0.15, 0.5, label, transform=axes[r, 0].transAxes, ha="right", va="center", fontsize=9)
    fig.suptitle(title or f"{cache.name}: faces by age group", fontsize=10)
    fig.tight_layout()
    return _save(fig, save)


def age_histograms(caches: dict, save=None):
    fig, axes = plt.subplots(1, len(caches), figsize=(4 * len(caches), 3), squeeze=False)
    for ax, (name, cache) in zip(axes[0], caches.items()):
        m = cache.manifest
        for split, g in m.groupby("split"):
            ax.hist(g["age"], bins=np.arange(0, 101, 5), alpha=0.6, label=f"{split} ({len(g)})")
        ax.set_title(name)
        ax.set_xlabel("age (years)")
        ax.set_ylabel("faces")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, save)


def show_tuple(dataset, index: int = 0, save=None):
    """One order tuple: top row in true (age) order, bottom row as shown to the model."""
    photos, label, ages = dataset[index]
    photos = photos.permute(0, 2, 3, 1).numpy()
    perm = dataset.perms[int(label)].numpy()
    t = len(perm)
    fig, axes = plt.subplots(2, t, figsize=(1.6 * t, 3.6))
    for k in range(t):
        true_pos = int(np.where(perm == k)[0][0])  # the shown position holding age rank k
        axes[0, k].imshow(photos[true_pos])
        axes[0, k].set_title(f"rank {k}: {ages[true_pos]:.0f} y", fontsize=8)
        axes[1, k].imshow(photos[k])
        axes[1, k].set_title(f"shown {k}: rank {perm[k]}", fontsize=8)
    for ax in axes.ravel():
        ax.axis("off")
    fig.suptitle(f"order tuple — permutation label {int(label)} of {len(dataset.perms)}", fontsize=10)
    fig.tight_layout()
    return _save(fig, save)


def training_curves(histories: dict, metrics=("loss", "mae"), save=None):
    """Train and validation curves of one or more runs, one panel per metric."""
    metrics = [m for m in metrics if any(f"val_{m}" in h for h in histories.values())]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for name, h in histories.items():
            c = CONDITION_COLOURS.get(name)
            if f"train_{metric}" in h:
                ax.plot(h["epoch"], h[f"train_{metric}"], "--", color=c, alpha=0.7, label=f"{name} train")
            if f"val_{metric}" in h:
                ax.plot(h["epoch"], h[f"val_{metric}"], "-o", color=c, ms=3, label=f"{name} val")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, save)


def pred_vs_true(preds: dict, save=None):
    """Predicted against true age per condition, with the identity line."""
    fig, axes = plt.subplots(1, len(preds), figsize=(3.6 * len(preds), 3.4), squeeze=False)
    for ax, (name, df) in zip(axes[0], preds.items()):
        ax.scatter(df["age"], df["pred"], s=6, alpha=0.5, color=CONDITION_COLOURS.get(name))
        hi = max(df["age"].max(), df["pred"].max()) + 2
        ax.plot([0, hi], [0, hi], "k--", lw=1)
        ax.set_title(f"{name}: MAE {np.abs(df['pred'] - df['age']).mean():.2f}", fontsize=9)
        ax.set_xlabel("true age")
        ax.set_ylabel("predicted age")
    fig.tight_layout()
    return _save(fig, save)


def metric_bars(table: pd.DataFrame, metrics=("mae", "ca5"), save=None):
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.2), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        vals = table[m].astype(float)
        ax.bar(vals.index, vals.values, color=[CONDITION_COLOURS.get(i, "#999") for i in vals.index])
        ax.set_ylabel(m.upper())
        ax.tick_params(axis="x", rotation=30)
        for i, v in enumerate(vals.values):
            ax.text(i, v, f"{v:.2f}", ha="center", va="bottom", fontsize=8)
    fig.tight_layout()
    return _save(fig, save)


def pairwise_by_gap(pretext: dict, save=None):
    table = pretext.get("pairwise_acc_by_gap", {})
    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.bar(list(table), [v["acc"] for v in table.values()], color=CONDITION_COLOURS["vcop"])
    ax.axhline(0.5, color="k", ls="--", lw=1, label="chance")
    ax.set_xlabel("age gap between the two photos (years)")
    ax.set_ylabel("pairwise order accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, save)


def label_efficiency(curve: dict, save=None):
    """MAE of condition 3 and of its control against the share of fine-tuning labels, with 95% intervals."""
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    x = np.asarray(curve["fractions"]) * 100
    for k, name in enumerate(("vcop_downstream", "aihub_scratch")):
        mae, ci = np.asarray(curve[name]["mae"]), np.asarray(curve[name]["ci95"])
        ax.errorbar(x * (1 + 0.02 * (2 * k - 1)), mae, yerr=[mae - ci[:, 0], ci[:, 1] - mae], fmt="-o", ms=4,
                    capsize=3, color=CONDITION_COLOURS[name], label=name)
    ax.set_xscale("log")
    ax.set_xticks(x, [f"{v:.0f}%" for v in x])
    ax.set_xlabel("share of fine-tuning labels (identities)")
    ax.set_ylabel("test MAE (years)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, save)

