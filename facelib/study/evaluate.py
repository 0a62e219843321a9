"""The test split, read once per trained run: its metrics beside a mean-age predictor fitted on the
run's own training labels, and every face's prediction (for paired comparisons)."""
from __future__ import annotations

import json

import pandas as pd
from torch import nn

from ..checkpoints import load_checkpoint
from ..config import TEST_SPLIT, Config
from ..data.cache import FaceCache
from ..data.loaders import split_loader
from ..models.build import model_from_checkpoint, regressor_of
from ..paths import Paths
from ..registry import check_name, notebook_of, weights_path
from .metrics import mean_predictor_metrics, regression_metrics
from .records import write_result
from .train import predict_ages


def evaluate_condition(name: str, paths: Paths, model: nn.Module | None = None, cfg: Config | None = None,
                       device="auto") -> dict:
    """Test metrics of a run on the test split (`cfg.test_set`: MegaAge-Asian's, or UTKFace's Asian
    faces held out of training), beside a mean-age predictor fitted on the run's own training labels.
    Saves every face's prediction (with its person, for resampling) and updates the results file."""
    check_name(name)
    result_path = paths.results_dir / f"{name}.json"
    notebook = notebook_of(name)
    if not result_path.exists():
        raise FileNotFoundError(f"{result_path}: no training record for {name!r}; run notebook {notebook} first")
    record = json.loads(result_path.read_text())
    if model is None:
        ckpt = load_checkpoint(weights_path(paths, name))
        model, cfg = model_from_checkpoint(name, ckpt)
        if ckpt.get("run_id") != record.get("run_id"):
            raise ValueError(f"{weights_path(paths, name)} (run {ckpt.get('run_id')}) and {result_path} (run "
                             f"{record.get('run_id')}) come from different training runs; run notebook {notebook} again")
    dataset, split = TEST_SPLIT[cfg.test_set]
    cache = FaceCache(paths.cache_dir, dataset)
    rows = cache.split(split)
    pred, true = predict_ages(regressor_of(model), split_loader(cfg, cache, split, 128), device, cfg.amp)
    test = regression_metrics(pred, true)
    ref = mean_predictor_metrics(record["train"]["train_ages"], true)
    pred_dir = paths.results_dir / "predictions"
    pred_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"index": rows["index"].to_numpy(), "source": rows["source"].to_numpy(),
                  "identity": rows["identity"].astype(str).to_numpy(), "age": true,
                  "pred": pred}).to_csv(pred_dir / f"{name}.csv", index=False)
    write_result(paths.results_dir, name, test={"dataset": dataset, "split": split, "test_set": cfg.test_set, **test},
                 mean_predictor=ref, predictions=paths.rel(pred_dir / f"{name}.csv"),
                 test_data_hash=cache.split_hashes[split])
    return {"test": test, "mean_predictor": ref}


def test_table(paths: Paths, seeds, names) -> pd.DataFrame:
    """Test metrics of the named runs in each seed, each beside its mean-age predictor's MAE."""
    rows = {}
    for seed in ([seeds] if isinstance(seeds, int) else seeds):
        results_dir = paths.for_seed(seed).results_dir
        for name in names:
            path = results_dir / f"{name}.json"
            r = json.loads(path.read_text()) if path.exists() else {}
            if "test" in r:
                rows[(name, seed)] = {**{k: r["test"][k] for k in ("mae", "rmse", "r2", "ca3", "ca5", "n")},
                                      "mean predictor mae": r["mean_predictor"]["mae"]}
    return pd.DataFrame(rows).T.rename_axis(["run", "seed"])
