"""Figures the notebooks show. Each function returns a matplotlib Figure and, given
`save`, writes it as PNG too."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from PIL import Image

from ..config import CONDITIONS, TEST_SPLIT
from ..data.cache import FaceCache
from ..data.synth import compose_photo
from ..inference.drawing import draw_predictions
from ..inference.models import load_models
from ..inference.predict import predict
from ..study.metrics import AGE_GROUPS, age_group, group_label

CONDITION_COLOURS = {"baseline": "#4C72B0", "korean_finetuned": "#DD8452", "vcop_downstream": "#55A868",
                     "multitrain": "#C44E52", "mean_predictor": "#8C8C8C", "vcop": "#8172B3",
                     "aihub_scratch": "#A6D9B0", "supervised_downstream": "#937860", "supervised_pretext": "#DA8BC3"}


def _save(fig, save):
    if save:
        Path(save).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(save, dpi=110, bbox_inches="tight")
    return fig


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


def label_efficiency_plot(curve: dict, save=None):
    """MAE of condition 3 and of its controls against the share of fine-tuning people, with 95%
    intervals over trained models."""
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    x = np.asarray(curve["fractions"]) * 100
    names = [n for n in ("vcop_downstream", "aihub_scratch", "supervised_downstream")
             if n in curve and all(v is not None for v in curve[n]["mae"])]
    for k, name in enumerate(names):
        mae, ci = np.asarray(curve[name]["mae"], float), np.asarray(curve[name]["ci95"], float)
        ax.errorbar(x * (1 + 0.025 * (k - 1)), mae, yerr=[mae - ci[:, 0], ci[:, 1] - mae], fmt="-o", ms=4,
                    capsize=3, color=CONDITION_COLOURS[name], label=name)
    ax.set_xscale("log")
    ax.set_xticks(x, [f"{v:.0f}%" for v in x])
    ax.set_xlabel("share of the fine-tuning people (all their labelled photos)")
    ax.set_ylabel("test MAE (years)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, save)


# ---------------------------------------------------------------- 06's figures

def mae_by_group_chart(results: dict, save=None):
    labels = [group_label(lo, hi) for lo, hi in AGE_GROUPS]
    conds = [c for c in (*CONDITIONS, "aihub_scratch", "supervised_downstream") if c in results and "test" in results[c]]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    width = 0.8 / max(1, len(conds))
    for i, c in enumerate(conds):
        g = results[c]["test"]["mae_by_group"]
        ax.bar(np.arange(len(labels)) + i * width, [g.get(lab, np.nan) for lab in labels], width,
               label=c, color=CONDITION_COLOURS[c])
    ax.set_xticks(np.arange(len(labels)) + width * (len(conds) - 1) / 2, labels)
    ax.set_xlabel("true age group (years)")
    ax.set_ylabel("MAE (years)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, save)


def error_distribution(preds: dict, save=None):
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    data = [df["pred"] - df["age"] for df in preds.values()]
    parts = ax.violinplot(data, showmedians=True)
    for body, c in zip(parts["bodies"], preds):
        body.set_facecolor(CONDITION_COLOURS.get(c))
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(range(1, len(preds) + 1), list(preds), rotation=15)
    ax.set_ylabel("predicted − true age (years)")
    fig.tight_layout()
    return _save(fig, save)


def confusion_plot(cm: pd.DataFrame, title: str, save=None):
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    sns.heatmap(cm, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, save)


def all_curves(results: dict, paths, save=None):
    """Validation curves of every run on shared axes: age MAE for the regressors, order
    accuracy for the pretext model (and multitrain's order head)."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
    for name, r in results.items():
        path = paths.abs(r.get("history", ""))
        if not r.get("history") or not path.exists():
            continue
        h = pd.read_csv(path)
        if "val_mae" in h:
            ax1.plot(h["epoch"], h["val_mae"], "-o", ms=3, label=name, color=CONDITION_COLOURS.get(name))
        if "val_acc" in h:
            ax2.plot(h["epoch"], h["val_acc"], "-o", ms=3, label=name, color=CONDITION_COLOURS.get(name))
    ax1.set(xlabel="epoch", ylabel="validation MAE (years)", title="age regression")
    ax2.set(xlabel="epoch", ylabel="validation top-1", title="order task")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, save)


def worst_faces(preds: dict, cache, condition: str, group: str | None = None, n: int = 8, compare: str | None = None,
                save=None):
    """The n largest errors of `condition` among the test faces of a true age group (all faces
    when `group` is None), each captioned with its true age and the prediction; with `compare`,
    that run's prediction on the very same faces too (the same age group)."""
    df = preds[condition].copy()
    if group:
        df = df[df["age"].map(age_group) == group]
    df = df.assign(err=(df["pred"] - df["age"]).abs()).nlargest(n, "err")
    cols = max(1, len(df))
    fig, axes = plt.subplots(1, cols, figsize=(1.7 * cols, 2.9), squeeze=False)
    other = preds[compare].set_index("index")["pred"] if compare else None
    for ax, (_, row) in zip(axes[0], df.iterrows()):
        ax.imshow(cache.images[int(row["index"])])
        caption = f"true {row['age']:.0f}\n{condition}: {row['pred']:.0f}"
        if other is not None:
            caption += f"\n{compare}: {other.loc[int(row['index'])]:.0f}"
        ax.set_xlabel(caption, fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[0][len(df):]:
        ax.axis("off")
    where = f"true age {group}" if group else "all test faces"
    title = f"largest errors of {condition} ({where}, {len(df)} shown)"
    if compare:
        title += f"; {compare} on the same faces"
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    return _save(fig, save)


def predict_demo(paths, cfg, ages=(8, 30, 65), save=None):
    """`facelib.predict` on a few photos of this run: on real data, test photos whose true ages are
    nearest `ages`, each placed in a larger plain photo; on the synthetic demo, drawn faces pasted
    into larger photos. Returns (the answers as text, the figure of the photos with their boxes)."""
    photos = _demo_photos(paths, cfg, ages)
    models = load_models(paths)
    lines, images = [], []
    for path, age in photos:
        preds = predict(path, models=models)
        lines += [f"true age {age:.0f}: " + p.describe() for p in preds]
        images.append(draw_predictions(path, preds))
    fig, axes = plt.subplots(1, len(images), figsize=(4.2 * len(images), 3.4), squeeze=False)
    for ax, img, (_, age) in zip(axes[0], images, photos):
        ax.imshow(img)
        ax.set_title(f"true age {age:.0f}", fontsize=9)
        ax.axis("off")
    fig.suptitle("test photos placed in larger photos" if not paths.synthetic else
                 "drawn faces pasted into larger photos (synthetic demo)", fontsize=10)
    fig.tight_layout()
    return [models.provenance, *lines], _save(fig, save)


def _demo_photos(paths, cfg, ages):

    out = paths.out_dir / "predict_demo"
    out.mkdir(parents=True, exist_ok=True)
    if paths.synthetic:
        return [(compose_photo(out / f"photo_{i}.png", seed=i, age=age)["path"], age) for i, age in enumerate(ages)]
    dataset, split = TEST_SPLIT[cfg.test_set]
    rows = FaceCache(paths.cache_dir, dataset).split(split)
    photos = []
    for i, age in enumerate(ages):
        row = rows.iloc[int((rows["age"] - age).abs().to_numpy().argmin())]
        face = Image.open(paths.data_root / dataset / row["source"]).convert("RGB")
        canvas = Image.new("RGB", (face.width * 3, round(face.height * 2.2)), (200, 200, 196))
        canvas.paste(face, (face.width * (i % 2 + 1) // 2 + face.width // 2, round(face.height * 0.5)))
        path = out / f"photo_{i}.jpg"
        canvas.save(path, quality=92)
        photos.append((str(path), float(row["age"])))
    return photos
