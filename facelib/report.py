"""The comparison report of 06_eval-all: tables, figures, the conclusion paragraph,
consistency checks, and the face browser."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .config import CONDITIONS
from .metrics import AGE_GROUPS, group_label
from .plots import CONDITION_COLOURS, _save
from .predict import PREDICT_GROUPS, age_group

LOWER_IS_BETTER = {"mae", "rmse"}
# Relative MAE differences below this are not called a win or a loss from a single seed.
SMALL_DIFFERENCE = 0.05
# Figures the original prototype reported on the real MegaAge-Asian test set
# (shared/seeds/README.md): another implementation on real data, never ranked with ours.
ORIGINAL_FIGURES = pd.DataFrame(
    {"mae": [9.99, 8.59, 16.25, 10.72], "rmse": [12.40, 11.25, 20.40, 14.07], "r2": [0.29, 0.42, np.nan, np.nan]},
    index=list(CONDITIONS))
ORIGINAL_PRETEXT = {"top1": 0.197, "top3": 0.481, "kendall_tau": 0.421, "spearman_rho": 0.492, "exact_match": 0.197}


def comparison_table(summary: dict) -> pd.DataFrame:
    from .results import summary_table
    return summary_table(summary).astype({"n": int})


def best_per_column(table: pd.DataFrame) -> dict:
    """{metric: condition} with the best value among the four conditions (not the reference)."""
    conds = table.loc[[c for c in table.index if c in CONDITIONS]]
    return {m: (conds[m].idxmin() if m in LOWER_IS_BETTER else conds[m].idxmax())
            for m in ("mae", "rmse", "r2", "ca3", "ca5")}


def styled_comparison(table: pd.DataFrame):
    """The table with the best condition per column in bold green."""
    best = best_per_column(table)

    def highlight(col):
        return ["font-weight: bold; background-color: #d9f2d9" if best.get(col.name) == idx else "" for idx in col.index]
    return table.style.apply(highlight).format({m: "{:.3f}" for m in ("mae", "rmse", "r2", "ca3", "ca5")})


def conclusion(summary: dict) -> str:
    """One paragraph generated from the numbers: the winner on MAE, by how much against the
    baseline, whether order pretraining helped, and whether the data were synthetic."""
    conds = summary["conditions"]
    mae = {c: m["mae"] for c, m in conds.items()}
    winner = min(mae, key=mae.get)
    parts = []
    data = summary.get("data")
    where = "the MegaAge-Asian test split" + (" (synthetic faces)" if data == "synthetic" else "")
    parts.append(f"On {where}, {winner} has the lowest MAE ({mae[winner]:.2f} years, n = {conds[winner]['n']}).")
    if "baseline" in mae and winner != "baseline":
        rel = (mae["baseline"] - mae[winner]) / mae["baseline"]
        parts.append(f"That is {rel:.0%} lower than the baseline ({mae['baseline']:.2f}).")
    elif "baseline" in mae and len(mae) > 1:
        second = sorted(mae, key=mae.get)[1]
        parts.append(f"The next best, {second}, is {(mae[second] - mae['baseline']) / mae['baseline']:.0%} worse.")
    ref = summary.get("reference", {}).get("mean_predictor")
    if ref:
        parts.append(f"Always predicting the training mean gives {ref['mae']:.2f}.")
    order_conds = [c for c in ("vcop_downstream", "multitrain") if c in mae]
    if order_conds and "baseline" in mae:
        verdicts = [f"{c} {mae[c]:.2f} ({(mae[c] - mae['baseline']) / mae['baseline']:+.0%} vs baseline)"
                    for c in order_conds]
        helped = any(mae[c] < mae["baseline"] for c in order_conds)
        parts.append("Conditions that use the order task: " + ", ".join(verdicts) + "; "
                     + ("at least one beats the baseline here" if helped else "neither beats the baseline here")
                     + " (which also differs in its training data).")
    scratch = summary.get("reference", {}).get("aihub_scratch")
    if scratch and "vcop_downstream" in mae:
        delta = (mae["vcop_downstream"] - scratch["mae"]) / scratch["mae"]
        verdict = (", too small a difference to call from one seed." if abs(delta) < SMALL_DIFFERENCE
                   else ", so it helped there." if delta < 0 else ", so it did not help there.")
        parts.append(f"Against the same fine-tuning from random weights (aihub_scratch, {scratch['mae']:.2f}), "
                     f"order pretraining changes the MAE by {delta:+.0%}{verdict}")
    if "pretext" in summary:
        p = summary["pretext"]
        parts.append(f"The pretext model orders held-out tuples with top-1 {p['top1']:.2f} "
                     f"(chance {p['chance_top1']:.2f}) and Kendall tau {p['kendall_tau']:.2f}.")
    if data == "synthetic":
        parts.append("These faces are synthetic: the numbers show that the pipeline works and how the conditions "
                     "behave on drawn faces, not how they behave on real photographs.")
    return " ".join(parts)


def consistency_warnings(results: dict) -> list[str]:
    """Warnings when results were produced from different presets, data kinds or prepared data."""
    runs = {n: r for n, r in results.items() if n in (*CONDITIONS, "vcop", "aihub_scratch")}
    out = []
    for key, what in (("preset", "presets"), ("data", "data kinds"), ("seed", "seeds")):
        values = {n: r.get(key) for n, r in runs.items()}
        if len(set(map(str, values.values()))) > 1:
            out.append(f"results come from different {what}: {values}")
    tests = {n: r.get("test_data_hash") for n, r in runs.items() if r.get("test_data_hash")}
    if len(set(tests.values())) > 1:
        out.append(f"conditions were tested on different prepared MegaAge data: {sorted(tests)}")
    aihub = {n: r.get("data_hash") for n, r in runs.items() if n != "baseline" and r.get("data_hash")}
    if len(set(aihub.values())) > 1:
        out.append(f"AIHub-trained runs used different prepared data: {aihub}")
    return out


def load_predictions(results: dict, root) -> dict:
    return {c: pd.read_csv(Path(root) / results[c]["predictions"]) for c in CONDITIONS
            if c in results and results[c].get("predictions") and (Path(root) / results[c]["predictions"]).exists()}


# ---------------------------------------------------------------- figures

def mae_by_group_chart(results: dict, save=None):
    labels = [group_label(lo, hi) for lo, hi in AGE_GROUPS]
    conds = [c for c in (*CONDITIONS, "aihub_scratch") if c in results and "test" in results[c]]
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


def group_classification(df: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    """Accuracy and confusion matrix (rows true, columns predicted) of the age group derived
    from a regressor's predictions (0–9, …, 50–59, 60+)."""
    labels = [age_group(lo) for lo, _ in PREDICT_GROUPS]
    true = df["age"].map(age_group)
    pred = df["pred"].map(age_group)
    cm = pd.crosstab(pd.Categorical(true, labels), pd.Categorical(pred, labels), dropna=False)
    cm.index.name, cm.columns.name = "true", "predicted"
    return float((true == pred).mean()), cm


def confusion_plot(cm: pd.DataFrame, title: str, save=None):
    import seaborn as sns
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    sns.heatmap(cm, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, save)


def all_curves(results: dict, root, save=None):
    """Validation curves of every run on shared axes: age MAE for the regressors, order
    accuracy for the pretext model (and multitrain's order head)."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
    for name, r in results.items():
        path = Path(root) / r.get("history", "")
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


def pretext_table(pretext: dict) -> pd.DataFrame:
    keys = ["top1", "top3", "exact_match", "kendall_tau", "spearman_rho"]
    chance = {"top1": pretext["chance_top1"], "top3": pretext.get("chance_top3", np.nan),
              "exact_match": pretext["chance_top1"], "kendall_tau": 0.0, "spearman_rho": 0.0}
    return pd.DataFrame({"this run": [pretext[k] for k in keys], "chance": [chance[k] for k in keys],
                         "original (real data)": [ORIGINAL_PRETEXT[k] for k in keys]}, index=keys)


# ---------------------------------------------------------------- faces

def worst_faces(preds: dict, cache, condition: str, group: str | None = None, n: int = 8, compare: str | None = None,
                save=None):
    """The n largest errors of `condition` (optionally within a true age group), with true and
    predicted ages; with `compare`, that condition's prediction on the same faces too."""
    df = preds[condition].copy()
    if group:
        df = df[df["age"].map(age_group) == group]
    df = df.assign(err=(df["pred"] - df["age"]).abs()).nlargest(n, "err")
    fig, axes = plt.subplots(1, max(1, len(df)), figsize=(1.6 * max(1, len(df)), 2.1), squeeze=False)
    for ax, (_, row) in zip(axes[0], df.iterrows()):
        ax.imshow(cache.images[int(row["index"])])
        title = f"true {row['age']:.0f}\n{condition[:8]} {row['pred']:.0f}"
        if compare:
            other = preds[compare].set_index("index").loc[int(row["index"]), "pred"]
            title += f"\n{compare[:8]} {other:.0f}"
        ax.set_title(title, fontsize=7)
    for ax in axes[0]:
        ax.axis("off")
    fig.suptitle(f"largest errors of {condition}" + (f", true age {group}" if group else ""), fontsize=9)
    fig.tight_layout()
    return _save(fig, save)


def face_browser(preds: dict, cache):
    """Widgets: pick a condition, an age group and a condition to compare with."""
    import ipywidgets as w
    from IPython.display import display
    groups = ["all"] + [age_group(lo) for lo, _ in PREDICT_GROUPS]
    cond = w.Dropdown(options=list(preds), description="condition")
    grp = w.Dropdown(options=groups, description="age group")
    cmp_ = w.Dropdown(options=["—"] + list(preds), description="compare")
    out = w.Output()

    def show(*_):
        out.clear_output(wait=True)
        with out:
            worst_faces(preds, cache, cond.value, None if grp.value == "all" else grp.value,
                        compare=None if cmp_.value == "—" else cmp_.value)
            plt.show()
    for widget in (cond, grp, cmp_):
        widget.observe(show, "value")
    show()
    display(w.VBox([w.HBox([cond, grp, cmp_]), out]))


def upload_predictor(paths):
    """Widget: upload a photo, see detected faces with every condition's age."""
    import io
    import tempfile

    import ipywidgets as w
    from IPython.display import display

    from .predict import draw_predictions, predict
    up = w.FileUpload(accept="image/*", multiple=False, description="photo")
    out = w.Output()

    def run(change):
        out.clear_output()
        files = change["new"]
        if not files:
            return
        f = files[0] if isinstance(files, (list, tuple)) else next(iter(files.values()))
        content = f["content"] if isinstance(f, dict) else f.content
        with tempfile.NamedTemporaryFile(suffix=".png", delete=False) as tmp:
            tmp.write(bytes(content))
        with out:
            preds = predict(tmp.name, paths)
            for p in preds:
                print(p.describe().replace(tmp.name, "upload"))
            if any(p.box for p in preds):
                buf = io.BytesIO()
                draw_predictions(tmp.name, preds).save(buf, "PNG")
                display(w.Image(value=buf.getvalue()))
    up.observe(run, "value")
    display(w.VBox([up, out]))


def predict_demo(paths, ages=(8, 30, 65), save=None):
    """`facelib.predict` on a few composed photos (a generated face pasted into a larger
    background): the photos with boxes and ages, and the text lines."""
    from .data.synth import compose_photo
    from .predict import draw_predictions, predict
    lines, images = [], []
    for i, age in enumerate(ages):
        info = compose_photo(paths.out_dir / "predict_demo" / f"photo_{i}.png", seed=i, age=age)
        preds = predict(info["path"], paths)
        lines += [f"true age {age}: " + p.describe() for p in preds]
        images.append(draw_predictions(info["path"], preds))
    fig, axes = plt.subplots(1, len(images), figsize=(4.2 * len(images), 3.4), squeeze=False)
    for ax, img, age in zip(axes[0], images, ages):
        ax.imshow(img)
        ax.set_title(f"composed photo, true age {age}", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return lines, _save(fig, save)
