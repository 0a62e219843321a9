"""The four conditions and the pretext task, each a plain function over one `fit` loop.

- `baseline`         backbone + simple head on UTKFace
- `korean_finetuned` the baseline's backbone, deeper head, on AIHub finetune-train
- `vcop`             order pretraining on AIHub pretext tuples
- `vcop_downstream`  the order-pretrained encoder + regression head on AIHub finetune-train
- `multitrain`       order loss and age loss in every step

Each returns a `RunResult` and writes `weights/<name>.pt` and `outputs/results/<name>.json`;
`evaluate_condition` adds MegaAge-Asian test metrics to that file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from .config import Config, config_from_dict
from .data.augment import BatchAugment
from .data.datasets import FaceDataset, OrderTupleDataset, permutations, seed_worker
from .data.prepare import FaceCache
from .metrics import mean_predictor_metrics, order_metrics, regression_metrics
from .models import (AgeRegressor, KoreanHead, R21DMini, R21DOrderModel, R21DRegressor, Shared2DOrderModel,
                     SimpleHead, make_backbone, set_output_bias)
from .paths import Paths
from .results import versions, write_result
from .train import (FitResult, MultiTask, OrderTask, RegressionTask, ZipLoader, fit, load_checkpoint,
                    predict, predict_order, resolve_device, save_atomic, seed_everything)

PREREQUISITE_NOTEBOOK = {"baseline": "03_finetune_base_to_kor", "korean_finetuned": "03_finetune_base_to_kor",
                         "vcop": "01_ssl-preTextTask", "vcop_downstream": "02_ssl-regression",
                         "multitrain": "05_multitrain", "aihub_scratch": "02_ssl-regression"}
# The control for condition 3: its fine-tuning, from random weights instead of the order task's.
CONTROL = "aihub_scratch"
# Which config block trains each run.
TRAIN_BLOCK = {CONTROL: "vcop_downstream"}


@dataclass
class RunResult:
    name: str
    model: nn.Module
    fit: FitResult
    val: dict           # metrics on the run's own validation split
    weights: Path
    train_ages: np.ndarray | None = None


# ---------------------------------------------------------------- model builders

def build_regressor(cfg: Config, head: str = "simple", encoder: str = "shared2d") -> nn.Module:
    """An age regressor: (B, 3, H, W) → (B,). encoder "r21d_mini" gives the original's stacked-copies model."""
    if encoder == "r21d_mini":
        return R21DRegressor(R21DMini(), cfg.tuple_len)
    backbone, dim = make_backbone(cfg.backbone, cfg.imagenet_init)
    return AgeRegressor(backbone, KoreanHead(dim) if head == "korean" else SimpleHead(dim, cfg.head_dropout))


def build_order_model(cfg: Config, encoder: str = "shared2d", backbone=None) -> nn.Module:
    if encoder == "r21d_mini":
        return R21DOrderModel(cfg.tuple_len, backbone)
    if backbone is None:
        backbone, dim = make_backbone(cfg.backbone, cfg.imagenet_init)
    else:
        dim = _feat_dim(backbone, cfg.image_size)
    return Shared2DOrderModel(backbone, dim, cfg.tuple_len, cfg.order_head)


def _feat_dim(backbone, size):
    with torch.no_grad():
        was = backbone.training
        backbone.eval()
        d = backbone(torch.zeros(1, 3, size, size)).shape[-1]
        backbone.train(was)
    return d


class MultitrainModel(nn.Module):
    """`order` and `regressor`; with a shared encoder both hold the same backbone object."""

    def __init__(self, order: nn.Module, regressor: nn.Module):
        super().__init__()
        self.order, self.regressor = order, regressor

    def forward(self, x):
        return self.regressor(x)


def build_multitrain(cfg: Config) -> MultitrainModel:
    if cfg.encoder == "r21d_mini":
        enc = R21DMini()
        regressor = R21DRegressor(enc if cfg.share_encoder else R21DMini(), cfg.tuple_len)
        return MultitrainModel(R21DOrderModel(cfg.tuple_len, enc), regressor)
    regressor = build_regressor(cfg)
    order = build_order_model(cfg, backbone=regressor.backbone if cfg.share_encoder else None)
    return MultitrainModel(order, regressor)


def build_model(name: str, cfg: Config) -> nn.Module:
    """The architecture of a named run, as `load_model` rebuilds it."""
    if name == "baseline":
        return build_regressor(cfg)
    if name == "korean_finetuned":
        return build_regressor(cfg, head="korean")
    if name == "vcop":
        return build_order_model(cfg, cfg.encoder)
    if name in ("vcop_downstream", CONTROL):
        return build_regressor(cfg, encoder=cfg.encoder)
    if name == "multitrain":
        return build_multitrain(cfg)
    raise ValueError(f"unknown run {name!r}")


def check_name(name: str) -> str:
    if name not in PREREQUISITE_NOTEBOOK:
        raise ValueError(f"condition={name!r} is not one of {', '.join(map(repr, PREREQUISITE_NOTEBOOK))}")
    return name


def weights_path(paths: Paths, name: str) -> Path:
    return paths.weights_dir / f"{check_name(name)}.pt"


def load_model(name: str, paths: Paths, device="cpu") -> tuple[nn.Module, Config]:
    """Rebuild a trained run from `weights/<name>.pt`; a clear error says which notebook makes it."""
    path = weights_path(paths, name)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no trained {name!r} weights; run notebook "
                                f"{PREREQUISITE_NOTEBOOK[name]} first")
    ckpt = load_checkpoint(path, map_location=device)
    cfg = config_from_dict(ckpt["config"])
    model = build_model(name, cfg)
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), cfg


# ---------------------------------------------------------------- data

def _loader(ds, batch_size, shuffle, cfg: Config):
    device = resolve_device(cfg.device)
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, drop_last=shuffle and len(ds) > batch_size,
                      num_workers=cfg.num_workers, worker_init_fn=seed_worker,
                      pin_memory=device.type == "cuda", persistent_workers=cfg.num_workers > 0)


def face_loaders(cfg: Config, cache: FaceCache, train_split: str, val_split: str, batch_size: int, copies=1):
    tr = FaceDataset(cache, train_split, copies)
    va = FaceDataset(cache, val_split, copies)
    return _loader(tr, batch_size, True, cfg), _loader(va, batch_size, False, cfg), tr.ages


def tuple_loaders(cfg: Config, cache: FaceCache, train_split: str, val_split: str, batch_size: int):
    mk = lambda split, fixed: OrderTupleDataset(  # noqa: E731
        cache, split, cfg.tuple_len, cfg.min_age_gap, cfg.tuples_per_identity, fixed=fixed, seed=cfg.seed)
    tr = mk(train_split, False)
    va = mk(val_split, True)
    return _loader(tr, batch_size, True, cfg), _loader(va, batch_size, False, cfg)


def _common(cfg: Config, paths: Paths, cache: FaceCache | None = None) -> dict:
    return {"preset": cfg.preset, "data": "synthetic" if paths.synthetic else "real", "seed": cfg.seed,
            "config": cfg.to_dict(), "versions": versions(),
            "data_hash": cache.data_hash if cache is not None else ""}


def _run(name, cfg, paths, model, task, train_loader, val_loader, groups, progress, monitor=None, mode="min",
         max_epochs=None):
    tc = getattr(cfg, TRAIN_BLOCK.get(name, name))
    res = fit(model, task, train_loader, val_loader, param_groups=groups, train_cfg=tc,
              run_dir=paths.weights_dir / "runs" / name, seed=cfg.seed, device=cfg.device, amp=cfg.amp,
              monitor=monitor, mode=mode, progress=progress, tensorboard_dir=paths.runs_dir / name,
              config=cfg.to_dict(), max_epochs=max_epochs)
    wpath = weights_path(paths, name)
    save_atomic({"model": model.state_dict(), "config": cfg.to_dict(), "name": name}, wpath)
    (paths.runs_dir / name).mkdir(parents=True, exist_ok=True)
    res.history.to_csv(paths.runs_dir / name / "history.csv", index=False)
    return res, wpath


def _require(paths: Paths, name: str) -> Path:
    p = weights_path(paths, name)
    if not p.exists():
        raise FileNotFoundError(f"{p}: the {name!r} weights this step starts from do not exist; "
                                f"run notebook {PREREQUISITE_NOTEBOOK[name]} first")
    return p


def _data_blocks(dataset: str, train_split: str, val_split: str, train_ages, val: dict) -> dict:
    """The `train` and `val` blocks of a regressor's results file."""
    return {"train": {"dataset": dataset, "split": train_split, "n": int(len(train_ages)),
                      "mean_age": float(np.mean(train_ages)), "train_ages": train_ages.tolist()},
            "val": {"dataset": dataset, "split": val_split, **val}}


def _regression_run(name, cfg, paths, model, cache, train_split, val_split, groups, progress, copies=1,
                    max_epochs=None):
    tc = getattr(cfg, TRAIN_BLOCK.get(name, name))
    tr, va, train_ages = face_loaders(cfg, cache, train_split, val_split, tc.batch_size, copies)
    res, wpath = _run(name, cfg, paths, model, RegressionTask(tc.loss, BatchAugment()), tr, va, groups, progress,
                      max_epochs=max_epochs)
    pred, true = predict(model, va, cfg.device, cfg.amp)
    val = regression_metrics(pred, true)
    write_result(paths.results_dir, name, kind="regressor", **_common(cfg, paths, cache),
                 weights=paths.rel(wpath), history=paths.rel(paths.runs_dir / name / "history.csv"),
                 **_data_blocks(cache.name, train_split, val_split, train_ages, val),
                 best_epoch=res.best_epoch + 1, epochs_run=len(res.history))
    return RunResult(name, model, res, val, wpath, train_ages)


# ---------------------------------------------------------------- conditions

def baseline(cfg: Config, paths: Paths, progress: bool = True, max_epochs=None) -> RunResult:
    """Condition 1: backbone + simple head trained on UTKFace train (validated on UTKFace val)."""
    seed_everything(cfg.seed)  # the initial weights depend on the seed alone
    cache = FaceCache(paths.cache_dir, "utkface")
    model = build_regressor(cfg)
    set_output_bias(model.head, float(cache.split("train")["age"].mean()))
    groups = model.param_groups(cfg.baseline.lr, cfg.baseline.backbone_lr_mult)
    return _regression_run("baseline", cfg, paths, model, cache, "train", "val", groups, progress,
                           max_epochs=max_epochs)


def korean_finetuned(cfg: Config, paths: Paths, progress: bool = True, max_epochs=None) -> RunResult:
    """Condition 2: the baseline's backbone (head re-initialised, deeper), backbone LR = 0.1 x head LR,
    age-weighted L1, on AIHub finetune-train."""
    seed_everything(cfg.seed)  # the initial weights depend on the seed alone
    base = load_checkpoint(_require(paths, "baseline"))
    cache = FaceCache(paths.cache_dir, "aihub")
    model = build_regressor(cfg, head="korean")
    state = {k[len("backbone."):]: v for k, v in base["model"].items() if k.startswith("backbone.")}
    model.backbone.load_state_dict(state)
    set_output_bias(model.head, float(cache.split("finetune_train")["age"].mean()))
    tc = cfg.korean_finetuned
    groups = model.param_groups(tc.lr, tc.backbone_lr_mult)
    return _regression_run("korean_finetuned", cfg, paths, model, cache, "finetune_train", "finetune_val",
                           groups, progress, max_epochs=max_epochs)


def vcop(cfg: Config, paths: Paths, progress: bool = True, max_epochs=None) -> RunResult:
    """The pretext task: predict the permutation of T shuffled photos of one person (AIHub pretext splits).

    Order metrics are measured on tuples of the finetune-val identities, which the
    pretext model never sees (pretext-val picks its best epoch)."""
    seed_everything(cfg.seed)  # the initial weights depend on the seed alone
    cache = FaceCache(paths.cache_dir, "aihub")
    tc = cfg.vcop
    tr, va = tuple_loaders(cfg, cache, "pretext_train", "pretext_val", tc.batch_size)
    model = build_order_model(cfg, cfg.encoder)
    perms = permutations(cfg.tuple_len)
    task = OrderTask(perms, tc.loss, cfg.soft_temperature, BatchAugment())
    groups = [{"params": model.parameters(), "lr": tc.lr, "name": "all"}]
    res, wpath = _run("vcop", cfg, paths, model, task, tr, va, groups, progress, max_epochs=max_epochs)
    _, test = tuple_loaders(cfg, cache, "pretext_train", "finetune_val", tc.batch_size)
    logits, labels, ages = predict_order(model, task, test, cfg.device, cfg.amp)
    pretext = order_metrics(logits, labels, perms.numpy(), ages)
    val = res.history.iloc[res.best_epoch].to_dict() if res.best_epoch >= 0 else {}
    write_result(paths.results_dir, "vcop", kind="order", **_common(cfg, paths, cache),
                 weights=paths.rel(wpath), history=paths.rel(paths.runs_dir / "vcop" / "history.csv"),
                 encoder=cfg.encoder, tuple_len=cfg.tuple_len, min_age_gap=cfg.min_age_gap,
                 dropped_identities=len(tr.dataset.dropped),
                 pretext={**pretext, "split": "finetune_val identities (unseen in pretraining)"},
                 val={k: float(v) for k, v in val.items()}, best_epoch=res.best_epoch + 1,
                 epochs_run=len(res.history))
    return RunResult("vcop", model, res, pretext, wpath)


def vcop_downstream(cfg: Config, paths: Paths, progress: bool = True, max_epochs=None,
                    from_scratch: bool = False) -> RunResult:
    """Condition 3: the order-pretrained encoder + regression head on AIHub finetune-train,
    encoder LR = 0.1 x head LR, early stopping off during warmup.

    from_scratch: the control `aihub_scratch`: the same model, data and schedule from random
    weights, so that the difference to condition 3 is the order pretraining alone."""
    seed_everything(cfg.seed)  # the initial weights depend on the seed alone
    name = CONTROL if from_scratch else "vcop_downstream"
    cache = FaceCache(paths.cache_dir, "aihub")
    model = build_regressor(cfg, encoder=cfg.encoder)
    if not from_scratch:
        pre = load_checkpoint(_require(paths, "vcop"))
        pre_cfg = config_from_dict(pre["config"])
        if pre_cfg.encoder != cfg.encoder or pre_cfg.backbone != cfg.backbone:
            raise ValueError(f"weights/vcop.pt was trained with encoder={pre_cfg.encoder!r}, backbone="
                             f"{pre_cfg.backbone!r}, but this run asks for encoder={cfg.encoder!r}, "
                             f"backbone={cfg.backbone!r}; run notebook 01_ssl-preTextTask again with these")
        prefix = "encoder." if cfg.encoder == "r21d_mini" else "backbone."
        model.backbone.load_state_dict({k[len(prefix):]: v for k, v in pre["model"].items()
                                        if k.startswith(prefix)})
    if cfg.encoder == "shared2d":
        set_output_bias(model.head, float(cache.split("finetune_train")["age"].mean()))
    tc = cfg.vcop_downstream
    groups = model.param_groups(tc.lr, tc.backbone_lr_mult)
    copies = cfg.tuple_len if cfg.encoder == "r21d_mini" else 1
    return _regression_run(name, cfg, paths, model, cache, "finetune_train", "finetune_val",
                           groups, progress, copies=copies, max_epochs=max_epochs)


def multitrain(cfg: Config, paths: Paths, progress: bool = True, max_epochs=None) -> RunResult:
    """Condition 4: every step computes λ·age loss (finetune-train faces) + (1 − λ)·order loss
    (pretext-train tuples); one shared encoder with two heads, or two independent encoders."""
    seed_everything(cfg.seed)  # the initial weights depend on the seed alone
    cache = FaceCache(paths.cache_dir, "aihub")
    tc = cfg.multitrain
    model = build_multitrain(cfg)
    if cfg.encoder == "shared2d":
        set_output_bias(model.regressor.head, float(cache.split("finetune_train")["age"].mean()))
    copies = cfg.tuple_len if cfg.encoder == "r21d_mini" else 1
    ftr, fva, train_ages = face_loaders(cfg, cache, "finetune_train", "finetune_val", tc.batch_size, copies)
    n_tuples = max(1, tc.batch_size // cfg.tuple_len)
    otr, ova = tuple_loaders(cfg, cache, "pretext_train", "pretext_val", n_tuples)
    perms = permutations(cfg.tuple_len)
    task = MultiTask(OrderTask(perms, "ce", augment=BatchAugment()), RegressionTask(tc.loss, BatchAugment()),
                     cfg.multitrain_lambda)
    groups = [{"params": model.parameters(), "lr": tc.lr, "name": "all"}]
    res, wpath = _run("multitrain", cfg, paths, model, task, ZipLoader(ftr, otr), ZipLoader(fva, ova),
                      groups, progress, max_epochs=max_epochs)
    pred, true = predict(model.regressor, fva, cfg.device, cfg.amp)
    val = regression_metrics(pred, true)
    logits, labels, ages = predict_order(model.order, task.order, ova, cfg.device, cfg.amp)
    write_result(paths.results_dir, "multitrain", kind="regressor", **_common(cfg, paths, cache),
                 weights=paths.rel(wpath), history=paths.rel(paths.runs_dir / "multitrain" / "history.csv"),
                 **_data_blocks("aihub", "finetune_train", "finetune_val", train_ages, val),
                 pretext_val=order_metrics(logits, labels, perms.numpy(), ages),
                 share_encoder=cfg.share_encoder, multitrain_lambda=cfg.multitrain_lambda,
                 best_epoch=res.best_epoch + 1, epochs_run=len(res.history))
    return RunResult("multitrain", model, res, val, wpath, train_ages)


# ---------------------------------------------------------------- evaluation on MegaAge-Asian

def evaluate_condition(name: str, paths: Paths, model: nn.Module | None = None, cfg: Config | None = None,
                       device="auto") -> dict:
    """Test metrics of a condition on the MegaAge-Asian test split, beside a mean-age predictor
    fitted on the condition's own training labels. Saves predictions and updates the results file."""
    check_name(name)
    result_path = paths.results_dir / f"{name}.json"
    if not result_path.exists():
        raise FileNotFoundError(f"{result_path}: no training record for {name!r}; run notebook "
                                f"{PREREQUISITE_NOTEBOOK[name]} first")
    if model is None:
        model, cfg = load_model(name, paths)
    regressor = model.regressor if isinstance(model, MultitrainModel) else model
    cache = FaceCache(paths.cache_dir, "megaage_asian")
    rows = cache.split("test")
    ds = FaceDataset(cache, "test")
    pred, true = predict(regressor, _loader(ds, 128, False, cfg), device, cfg.amp)
    train_ages = json.loads(result_path.read_text())["train"]["train_ages"]
    test = regression_metrics(pred, true)
    ref = mean_predictor_metrics(train_ages, true)
    pred_dir = paths.results_dir / "predictions"
    pred_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"index": rows["index"].to_numpy(), "source": rows["source"].to_numpy(), "age": true,
                  "pred": pred}).to_csv(pred_dir / f"{name}.csv", index=False)
    write_result(paths.results_dir, name, test={"dataset": "megaage_asian", "split": "test", **test},
                 mean_predictor=ref, predictions=paths.rel(pred_dir / f"{name}.csv"),
                 test_data_hash=cache.data_hash)
    return {"test": test, "mean_predictor": ref}


def megaage_table(results: dict) -> pd.DataFrame:
    """MegaAge-Asian test metrics of the conditions that have them, each beside its mean predictor."""
    rows = {}
    for name, r in results.items():
        if "test" in r:
            rows[name] = {k: r["test"][k] for k in ("mae", "rmse", "r2", "ca3", "ca5", "n")}
            rows[f"{name} (mean predictor)"] = {k: r["mean_predictor"][k] for k in ("mae", "rmse", "r2", "ca3", "ca5", "n")}
    return pd.DataFrame(rows).T
