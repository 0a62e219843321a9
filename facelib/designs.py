"""The original prototype's design measured beside facelib's, on the same data, splits and budget.

`compare_designs` trains, for each design and model seed, the pretext model and condition 3 (with
its control), tests them, and writes `outputs/results/designs.json`: pretext top-1 and Kendall tau
on unseen people, condition 3's test MAE against its control, with 95% intervals, and seconds
per pretext epoch. Each design keeps its own weights and results under `designs/<name>/`.
"""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

# What differs between the two: the encoder, and the original's loss (soft-permutation with its
# Kendall distance over items, temperature 0.5). Data, splits, epochs and batch sizes are shared.
DESIGNS = {
    "facelib (shared2d, cross-entropy)": {"encoder": "shared2d", "order_loss": "ce"},
    "original (r21d_original, soft loss, items, T 0.5)": {"encoder": "r21d_original", "order_loss": "soft",
                                                           "kendall_convention": "items", "soft_temperature": 0.5},
}


def design_paths(paths, name: str):
    slug = name.split(" ")[0]
    return replace(paths, weights_dir=paths.weights_dir / "designs" / slug, out_dir=paths.out_dir / "designs" / slug)


def compare_designs(cfg, paths, seeds=(0,), progress: bool = False) -> dict:
    """Train and test both designs for every seed; write and return outputs/results/designs.json."""
    from . import conditions as C
    from .results import abs_errors
    from .stats import compare, mae_ci
    rows = {}
    for name, settings in DESIGNS.items():
        base = design_paths(paths, name)
        per_seed = {}
        for seed in seeds:
            c, p = replace(cfg, seed=int(seed), **settings).validate(), base.for_seed(int(seed))
            pre = C.vcop(c, p, progress=progress)
            C.condition_3_arms(c, p, progress=progress)
            per_seed[int(seed)] = {n: json.loads((p.results_dir / f"{n}.json").read_text())
                                   for n in ("vcop", "vcop_downstream", C.CONTROL)}
            per_seed[int(seed)]["_epoch_seconds"] = float(pre.fit.history["seconds"].mean())
        e3, ec = (abs_errors(per_seed, n, paths.root)[0] for n in ("vcop_downstream", C.CONTROL))
        top1 = [r["vcop"]["pretext"]["top1"] for r in per_seed.values()]
        tau = [r["vcop"]["pretext"]["kendall_tau"] for r in per_seed.values()]
        rows[name] = {"settings": settings, "seeds": list(map(int, seeds)),
                      "pretext_top1": float(np.mean(top1)), "pretext_top1_seeds": top1,
                      "pretext_kendall_tau": float(np.mean(tau)), "pretext_kendall_tau_seeds": tau,
                      "vcop_downstream_mae": float(e3.mean()), "vcop_downstream_mae_ci95": mae_ci(e3),
                      "aihub_scratch_mae": float(ec.mean()), "aihub_scratch_mae_ci95": mae_ci(ec),
                      "vs_control": compare("vcop_downstream", C.CONTROL, e3, ec),
                      "seconds_per_pretext_epoch": float(np.mean([r["_epoch_seconds"] for r in per_seed.values()])),
                      "pretext_epochs": cfg.vcop.epochs, "fine_tuning_epochs": cfg.vcop_downstream.epochs}
        out = {"preset": cfg.preset, "data": "synthetic" if paths.synthetic else "real", "designs": rows}
        paths.results_dir.mkdir(parents=True, exist_ok=True)
        (paths.results_dir / "designs.json").write_text(json.dumps(out, indent=2))  # after each design
    return out


def designs_table(result: dict):
    """The reproduction rows: one per design, the numbers with their intervals."""
    import pandas as pd
    rows = {}
    for name, r in result["designs"].items():
        v = r["vs_control"]
        rows[name] = {"pretext top-1": f"{r['pretext_top1']:.3f}", "Kendall tau": f"{r['pretext_kendall_tau']:.3f}",
                      "condition 3 MAE [95% CI]": f"{r['vcop_downstream_mae']:.2f} [{r['vcop_downstream_mae_ci95'][0]:.2f}, "
                                                  f"{r['vcop_downstream_mae_ci95'][1]:.2f}]",
                      "control MAE": f"{r['aihub_scratch_mae']:.2f}",
                      "condition 3 − control [95% CI]": f"{v['mae_diff']:+.2f} [{v['ci95'][0]:+.2f}, {v['ci95'][1]:+.2f}]: "
                                                        f"{v['verdict']}",
                      "s / pretext epoch": f"{r['seconds_per_pretext_epoch']:.1f}"}
    return pd.DataFrame(rows).T
