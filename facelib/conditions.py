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

import hashlib
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader, Subset

from .config import TEST_SPLIT, Config, config_from_dict
from .data.augment import BatchAugment
from .data.datasets import FaceDataset, MixedFaceDataset, OrderTupleDataset, permutations, seed_worker
from .data.prepare import FaceCache
from .metrics import mean_predictor_metrics, order_metrics, regression_metrics
from .models import (AgeRegressor, KoreanHead, R21DOriginal, R21DOrderModel, R21DRegressor, Shared2DOrderModel,
                     SimpleHead, make_backbone, set_output_bias)
from .paths import Paths
from .results import versions, write_result
from .train import (FitResult, MultiTask, OrderTask, RegressionTask, ZipLoader, fit, load_checkpoint,
                    predict, predict_order, resolve_device, save_atomic, seed_everything)

PREREQUISITE_NOTEBOOK = {"baseline": "03_finetune_base_to_kor", "korean_finetuned": "03_finetune_base_to_kor",
                         "vcop": "01_ssl-preTextTask", "vcop_downstream": "02_ssl-regression",
                         "multitrain": "05_multitrain", "aihub_scratch": "02_ssl-regression"}
# The control for condition 3: its fine-tuning on the same data and budget, starting from the
# weights its pretext model started from (random here) instead of the order task's.
CONTROL = "aihub_scratch"
# Runs on a share of the fine-tuning labels are named e.g. `vcop_downstream_labels25`.
_LABELS = re.compile(r"^(.*)_labels(\d+)$")


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
    """An age regressor: (B, 3, H, W) → (B,). encoder "r21d_original" gives the original's stacked-copies model."""
    if encoder == "r21d_original":
        return R21DRegressor(R21DOriginal(), cfg.tuple_len)
    backbone, dim = make_backbone(cfg.backbone, cfg.imagenet_init)
    return AgeRegressor(backbone, KoreanHead(dim) if head == "korean" else SimpleHead(dim, cfg.head_dropout))


def build_order_model(cfg: Config, encoder: str = "shared2d", backbone=None) -> nn.Module:
    if encoder == "r21d_original":
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

    def param_groups(self, lr: float, backbone_lr_mult: float):
        """The groups of condition 3: encoder(s) at lr x backbone_lr_mult, every head at lr."""
        encoders = {id(p): p for m in (self.regressor.backbone, _encoder_of(self.order)) for p in m.parameters()}
        heads = [p for p in self.parameters() if id(p) not in encoders]
        return [{"params": list(encoders.values()), "lr": lr * backbone_lr_mult, "name": "backbone"},
                {"params": heads, "lr": lr, "name": "head"}]


def _encoder_of(order_model: nn.Module) -> nn.Module:
    return order_model.encoder if isinstance(order_model, R21DOrderModel) else order_model.backbone


def build_multitrain(cfg: Config) -> MultitrainModel:
    if cfg.encoder == "r21d_original":
        enc = R21DOriginal()
        regressor = R21DRegressor(enc if cfg.share_encoder else R21DOriginal(), cfg.tuple_len)
        return MultitrainModel(R21DOrderModel(cfg.tuple_len, enc), regressor)
    regressor = build_regressor(cfg)
    order = build_order_model(cfg, backbone=regressor.backbone if cfg.share_encoder else None)
    return MultitrainModel(order, regressor)


def build_model(name: str, cfg: Config) -> nn.Module:
    """The architecture of a named run, as `load_model` rebuilds it."""
    name = base_name(name)
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


def base_name(name: str) -> str:
    """`vcop_downstream_labels25` → `vcop_downstream`."""
    m = _LABELS.match(name)
    return m.group(1) if m else name


def labelled_name(name: str, fraction: float) -> str:
    """The run name of `name` trained on `fraction` of the fine-tuning labels."""
    return name if fraction >= 1 else f"{name}_labels{round(fraction * 100)}"


def check_name(name: str) -> str:
    if base_name(name) not in PREREQUISITE_NOTEBOOK:
        raise ValueError(f"condition={name!r} is not one of {', '.join(map(repr, PREREQUISITE_NOTEBOOK))}")
    return name


def state_hash(state: dict) -> str:
    """A short hash of a model's weights: what a downstream run records of its upstream."""
    h = hashlib.sha1()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def key_id(key: dict) -> str:
    return hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def weights_path(paths: Paths, name: str) -> Path:
    return paths.weights_dir / f"{check_name(name)}.pt"


def load_model(name: str, paths: Paths, device="cpu") -> tuple[nn.Module, Config]:
    """Rebuild a trained run from `weights/<name>.pt`; a clear error says which notebook makes it."""
    path = weights_path(paths, name)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no trained {name!r} weights; run notebook "
                                f"{PREREQUISITE_NOTEBOOK[base_name(name)]} first")
    model, cfg = model_from_checkpoint(name, load_checkpoint(path, map_location=device))
    return model.to(device).eval(), cfg


def model_from_checkpoint(name: str, ckpt: dict) -> tuple[nn.Module, Config]:
    cfg = config_from_dict(ckpt["config"])
    model = build_model(name, replace(cfg, imagenet_init=False))  # the checkpoint holds every weight
    model.load_state_dict(ckpt["model"])
    return model.eval(), cfg


# ---------------------------------------------------------------- data

def _loader(ds, batch_size, shuffle, cfg: Config):
    device = resolve_device(cfg.device)
    # Workers are started afresh each epoch (not persistent), so they take their seeds from the
    # per-epoch seed of `fit`: a resumed run draws the same tuples as an uninterrupted one.
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, drop_last=shuffle and len(ds) > batch_size,
                      num_workers=cfg.num_workers, worker_init_fn=seed_worker,
                      pin_memory=device.type == "cuda")


def face_loaders(cfg: Config, cache: FaceCache, train_split: str, val_split: str, batch_size: int, copies=1,
                 fraction: float = 1.0, rehearsal: bool = False):
    """Training and validation loaders of one cache, and the training ages.

    rehearsal (fine-tuning runs, `Config.utkface_share` > 0): UTKFace training faces are mixed
    into the training set, and a seeded draw of UTKFace validation faces, in the same share, into
    the validation set that picks the best epoch: a run is chosen for the faces it trains on, not
    for the identities' few validation people alone (`own_val_loader` has those)."""
    tr = FaceDataset(cache, train_split, copies, fraction=fraction, seed=cfg.data_seed)
    va = FaceDataset(cache, val_split, copies)
    share = cfg.finetune_utkface_share() if rehearsal else 0.0
    if share > 0:
        utk = FaceCache(cache.cache_dir, "utkface")
        tr = MixedFaceDataset(tr, FaceDataset(utk, "train", copies), share, seed=cfg.data_seed)
        utk_val = FaceDataset(utk, "val", copies)
        n = min(len(utk_val), round(len(va) * share / (1 - share)))
        draw = np.random.default_rng([cfg.data_seed, 31]).permutation(len(utk_val))[:n]
        va = ConcatDataset([va, Subset(utk_val, draw.tolist())])
    return _loader(tr, batch_size, True, cfg), _loader(va, batch_size, False, cfg), tr.ages


def own_val_loader(cfg: Config, cache: FaceCache, val_split: str, batch_size: int, copies=1):
    """The validation faces of the run's own dataset alone (its fit, beside its test MAE)."""
    return _loader(FaceDataset(cache, val_split, copies), batch_size, False, cfg)


def rehearsal_data(cfg: Config, cache: FaceCache) -> dict:
    """The run-key entry of the UTKFace faces a fine-tuning run mixes in (none without rehearsal)."""
    if cfg.finetune_utkface_share() == 0:
        return {}
    utk = FaceCache(cache.cache_dir, "utkface")
    return {f"utkface/{s}": utk.split_hashes.get(s, utk.data_hash) for s in ("train", "val")}


def tuple_loaders(cfg: Config, cache: FaceCache, train_split: str, val_split: str, batch_size: int):
    mk = lambda split, fixed: OrderTupleDataset(  # noqa: E731
        cache, split, cfg.tuple_len, cfg.min_age_gap, cfg.tuples_per_identity, fixed=fixed, seed=cfg.data_seed,
        gap_start=0 if fixed else cfg.min_age_gap_start)
    tr = mk(train_split, False)
    va = mk(val_split, True)
    return _loader(tr, batch_size, True, cfg), _loader(va, batch_size, False, cfg)


def run_key(cfg: Config, name: str, cache: FaceCache, splits, upstream: dict | None = None,
            fraction: float = 1.0, rehearsal: bool = False) -> dict:
    """What a run learns from: the hashes of the splits it reads, its upstream weights, its settings."""
    data = {f"{cache.name}/{s}": cache.split_hashes.get(s, cache.data_hash) for s in splits}
    config = cfg.run_config()
    if rehearsal:
        data.update(rehearsal_data(cfg, cache))
        config["utkface_share"] = cfg.finetune_utkface_share()
    if fraction < 1:
        config["label_fraction"] = fraction
    return {"config": config, "data": data, "upstream": upstream or {}}


def _common(cfg: Config, paths: Paths, cache: FaceCache, res: FitResult, wpath: Path, name: str) -> dict:
    """Fields every training record holds: what produced it and what it cost."""
    return {"kind": "order" if name == "vcop" else "regressor", "preset": cfg.preset,
            "data": "synthetic" if paths.synthetic else "real", "seed": cfg.seed, "data_seed": cfg.data_seed,
            "config": cfg.to_dict(), "versions": versions(), "data_hash": cache.data_hash,
            "run_id": key_id(res.key), "data_hashes": res.key["data"], "upstream": res.key["upstream"],
            "budget": {"images_seen": res.budget["images"], "epochs": res.budget["epochs"],
                       "steps": res.budget["steps"], "seconds": round(res.budget["seconds"], 1)},
            "weights": paths.rel(wpath), "history": paths.rel(paths.runs_dir / name / "history.csv"),
            "best_epoch": res.best_epoch + 1, "epochs_run": len(res.history)}


def _run(name, cfg, paths, model, task, train_loader, val_loader, groups, progress, key, max_epochs=None):
    tc = getattr(cfg, base_name(name))
    res = fit(model, task, train_loader, val_loader, param_groups=groups, train_cfg=tc,
              run_dir=paths.weights_dir / "runs" / name, seed=cfg.seed, device=cfg.device, amp=cfg.amp,
              progress=progress, tensorboard_dir=paths.runs_dir / name, config=cfg.to_dict(), key=key,
              max_epochs=max_epochs)
    wpath = weights_path(paths, name)
    state = model.state_dict()
    save_atomic({"model": state, "config": cfg.to_dict(), "name": name, "run_id": key_id(res.key),
                 "state_hash": state_hash(state)}, wpath)
    (paths.runs_dir / name).mkdir(parents=True, exist_ok=True)
    res.history.to_csv(paths.runs_dir / name / "history.csv", index=False)
    return res, wpath


def _require(paths: Paths, name: str) -> tuple[dict, str]:
    """The checkpoint a run starts from, and the hash of its weights (for the run key)."""
    p = weights_path(paths, name)
    if not p.exists():
        raise FileNotFoundError(f"{p}: the {name!r} weights this step starts from do not exist; "
                                f"run notebook {PREREQUISITE_NOTEBOOK[name]} first")
    ckpt = load_checkpoint(p)
    return ckpt, ckpt.get("state_hash") or state_hash(ckpt["model"])


def _data_blocks(dataset: str, train_split: str, val_split: str, train_ages, val: dict) -> dict:
    """The `train` and `val` blocks of a regressor's results file."""
    return {"train": {"dataset": dataset, "split": train_split, "n": int(len(train_ages)),
                      "mean_age": float(np.mean(train_ages)), "train_ages": train_ages.tolist()},
            "val": {"dataset": dataset, "split": val_split, **val}}


def _regression_run(name, cfg, paths, model, cache, train_split, val_split, groups, progress, copies=1,
                    max_epochs=None, upstream=None, fraction: float = 1.0, rehearsal: bool = False):
    tc = getattr(cfg, base_name(name))
    tr, va, train_ages = face_loaders(cfg, cache, train_split, val_split, tc.batch_size, copies, fraction,
                                      rehearsal)
    key = run_key(cfg, name, cache, (train_split, val_split), upstream, fraction, rehearsal)
    res, wpath = _run(name, cfg, paths, model, RegressionTask(tc.loss, BatchAugment()), tr, va, groups, progress,
                      key, max_epochs=max_epochs)
    pred, true = predict(model, own_val_loader(cfg, cache, val_split, tc.batch_size, copies), cfg.device, cfg.amp)
    val = {**regression_metrics(pred, true), "abs_errors": np.abs(pred - true).round(3).tolist()}
    write_result(paths.results_dir, name, fresh=True, **_common(cfg, paths, cache, res, wpath, name),
                 **_data_blocks(cache.name, train_split, val_split, train_ages, val), label_fraction=fraction,
                 utkface_share=cfg.finetune_utkface_share() if rehearsal else 0.0)
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
    age-weighted L1, on AIHub finetune-train (with UTKFace train faces mixed in when
    `cfg.finetune_utkface_share()` > 0, as for conditions 3, 4 and the control)."""
    seed_everything(cfg.seed)  # the initial weights depend on the seed alone
    base, base_hash = _require(paths, "baseline")
    cache = FaceCache(paths.cache_dir, cfg.identities)
    model = build_regressor(replace(cfg, imagenet_init=False), head="korean")  # the baseline's backbone follows
    state = {k[len("backbone."):]: v for k, v in base["model"].items() if k.startswith("backbone.")}
    model.backbone.load_state_dict(state)
    set_output_bias(model.head, float(cache.split("finetune_train")["age"].mean()))
    tc = cfg.korean_finetuned
    groups = model.param_groups(tc.lr, tc.backbone_lr_mult)
    return _regression_run("korean_finetuned", cfg, paths, model, cache, "finetune_train", "finetune_val",
                           groups, progress, max_epochs=max_epochs, upstream={"baseline": base_hash},
                           rehearsal=True)


def vcop(cfg: Config, paths: Paths, progress: bool = True, max_epochs=None) -> RunResult:
    """The pretext task: predict the permutation of T shuffled photos of one person (AIHub pretext splits).

    Order metrics are measured on tuples of the finetune-val identities, which the
    pretext model never sees (pretext-val picks its best epoch)."""
    seed_everything(cfg.seed)  # the initial weights depend on the seed alone
    cache = FaceCache(paths.cache_dir, cfg.identities)
    tc = cfg.vcop
    tr, va = tuple_loaders(cfg, cache, "pretext_train", "pretext_val", tc.batch_size)
    model = build_order_model(cfg, cfg.encoder)
    perms = permutations(cfg.tuple_len)
    task = OrderTask(perms, cfg.order_loss, cfg.soft_temperature, BatchAugment(grayscale=cfg.order_grayscale),
                     cfg.kendall_convention)
    groups = [{"params": model.parameters(), "lr": tc.lr, "name": "all"}]
    key = run_key(cfg, "vcop", cache, ("pretext_train", "pretext_val"))
    res, wpath = _run("vcop", cfg, paths, model, task, tr, va, groups, progress, key, max_epochs=max_epochs)
    res.budget["images"] *= cfg.tuple_len  # tuples → photos
    _, test = tuple_loaders(cfg, cache, "pretext_train", "finetune_val", tc.batch_size)
    logits, labels, ages, grey = predict_order(model, task, test, cfg.device, cfg.amp)
    pretext = order_metrics(logits, labels, perms.numpy(), ages, grey=grey)
    val = res.history.iloc[res.best_epoch].to_dict() if res.best_epoch >= 0 else {}
    write_result(paths.results_dir, "vcop", fresh=True, **_common(cfg, paths, cache, res, wpath, "vcop"),
                 encoder=cfg.encoder, tuple_len=cfg.tuple_len, min_age_gap=cfg.min_age_gap,
                 dropped_identities=len(tr.dataset.dropped),
                 pretext={**pretext, "split": "finetune_val identities (unseen in pretraining)"},
                 val={k: float(v) for k, v in val.items()})
    return RunResult("vcop", model, res, pretext, wpath)


def vcop_downstream(cfg: Config, paths: Paths, progress: bool = True, max_epochs=None,
                    from_scratch: bool = False, label_fraction: float = 1.0) -> RunResult:
    """Condition 3: the order-pretrained encoder + regression head on AIHub finetune-train
    (settings: `cfg.vcop_downstream`, encoder LR = 0.1 x head LR by default).

    from_scratch: the control `aihub_scratch`: the same model, data and number of labelled images
        from the weights the pretext model started from (settings: `cfg.aihub_scratch`), so that the
        difference to condition 3 is the order pretraining alone.
    label_fraction: train on this share of the finetune-train identities (the same subset for both
        arms, nested across fractions); the run is named e.g. `vcop_downstream_labels25`."""
    seed_everything(cfg.seed)  # the initial weights depend on the seed alone
    name = labelled_name(CONTROL if from_scratch else "vcop_downstream", label_fraction)
    cache = FaceCache(paths.cache_dir, cfg.identities)
    # The control starts where the pretext model started (ImageNet when imagenet_init); condition 3
    # from the pretext model's weights.
    model = build_regressor(cfg if from_scratch else replace(cfg, imagenet_init=False), encoder=cfg.encoder)
    upstream = {}
    if not from_scratch:
        pre, upstream["vcop"] = _require(paths, "vcop")
        pre_cfg = config_from_dict(pre["config"])
        if pre_cfg.encoder != cfg.encoder or pre_cfg.backbone != cfg.backbone:
            raise ValueError(f"weights/vcop.pt was trained with encoder={pre_cfg.encoder!r}, backbone="
                             f"{pre_cfg.backbone!r}, but this run asks for encoder={cfg.encoder!r}, "
                             f"backbone={cfg.backbone!r}; run notebook 01_ssl-preTextTask again with these")
        prefix = "encoder." if cfg.encoder == "r21d_original" else "backbone."
        model.backbone.load_state_dict({k[len(prefix):]: v for k, v in pre["model"].items()
                                        if k.startswith(prefix)})
    if cfg.encoder == "shared2d":
        set_output_bias(model.head, float(cache.split("finetune_train", label_fraction, cfg.data_seed)["age"].mean()))
    tc = getattr(cfg, base_name(name))
    groups = model.param_groups(tc.lr, tc.backbone_lr_mult)
    copies = cfg.tuple_len if cfg.encoder == "r21d_original" else 1
    return _regression_run(name, cfg, paths, model, cache, "finetune_train", "finetune_val", groups, progress,
                           copies=copies, max_epochs=max_epochs, upstream=upstream, fraction=label_fraction,
                           rehearsal=True)


def condition_3_arms(cfg: Config, paths: Paths, control: bool = True, label_fractions=(), progress: bool = True,
                     evaluate: bool = True) -> dict:
    """Condition 3 and (with `control`) its control, on all the fine-tuning labels and on each share in
    `label_fractions` (e.g. [0.1, 0.25, 0.5]; the same identity subsets for both arms), each tested
    on the test split when `evaluate`. Returns {run name: RunResult}."""
    runs = {}
    for fraction in sorted({*map(float, label_fractions), 1.0}):
        for scratch in ((False, True) if control else (False,)):
            run = vcop_downstream(cfg, paths, progress, from_scratch=scratch, label_fraction=fraction)
            runs[run.name] = run
            if evaluate:
                evaluate_condition(run.name, paths, run.model, cfg)
    return runs


def multitrain(cfg: Config, paths: Paths, progress: bool = True, max_epochs=None) -> RunResult:
    """Condition 4: every step computes λ·age loss (finetune-train faces) + (1 − λ)·order loss
    (pretext-train tuples); one shared encoder with two heads, or two independent encoders."""
    seed_everything(cfg.seed)  # the initial weights depend on the seed alone
    cache = FaceCache(paths.cache_dir, cfg.identities)
    tc = cfg.multitrain
    model = build_multitrain(cfg)
    if cfg.encoder == "shared2d":
        set_output_bias(model.regressor.head, float(cache.split("finetune_train")["age"].mean()))
    copies = cfg.tuple_len if cfg.encoder == "r21d_original" else 1
    ftr, fva, train_ages = face_loaders(cfg, cache, "finetune_train", "finetune_val", tc.batch_size, copies,
                                        rehearsal=True)
    n_tuples = max(1, tc.batch_size // cfg.tuple_len)
    otr, ova = tuple_loaders(cfg, cache, "pretext_train", "pretext_val", n_tuples)
    perms = permutations(cfg.tuple_len)
    task = MultiTask(OrderTask(perms, cfg.order_loss, cfg.soft_temperature,
                               BatchAugment(grayscale=cfg.order_grayscale), cfg.kendall_convention),
                     RegressionTask(tc.loss, BatchAugment()), cfg.multitrain_lambda)
    groups = model.param_groups(tc.lr, tc.backbone_lr_mult)
    key = run_key(cfg, "multitrain", cache, ("finetune_train", "finetune_val", "pretext_train", "pretext_val"),
                  rehearsal=True)
    res, wpath = _run("multitrain", cfg, paths, model, task, ZipLoader(ftr, otr), ZipLoader(fva, ova),
                      groups, progress, key, max_epochs=max_epochs)
    pred, true = predict(model.regressor, own_val_loader(cfg, cache, "finetune_val", tc.batch_size, copies),
                         cfg.device, cfg.amp)
    val = {**regression_metrics(pred, true), "abs_errors": np.abs(pred - true).round(3).tolist()}
    logits, labels, ages, grey = predict_order(model.order, task.order, ova, cfg.device, cfg.amp)
    write_result(paths.results_dir, "multitrain", fresh=True, **_common(cfg, paths, cache, res, wpath, "multitrain"),
                 **_data_blocks(cfg.identities, "finetune_train", "finetune_val", train_ages, val),
                 pretext_val=order_metrics(logits, labels, perms.numpy(), ages, grey=grey),
                 share_encoder=cfg.share_encoder, multitrain_lambda=cfg.multitrain_lambda,
                 utkface_share=cfg.finetune_utkface_share())
    return RunResult("multitrain", model, res, val, wpath, train_ages)


# ---------------------------------------------------------------- evaluation on MegaAge-Asian

def evaluate_condition(name: str, paths: Paths, model: nn.Module | None = None, cfg: Config | None = None,
                       device="auto") -> dict:
    """Test metrics of a condition on the test split (`cfg.test_set`: MegaAge-Asian's, or UTKFace's
    Asian faces held out of training), beside a mean-age predictor fitted on the condition's own
    training labels. Saves predictions and updates the results file."""
    check_name(name)
    result_path = paths.results_dir / f"{name}.json"
    notebook = PREREQUISITE_NOTEBOOK[base_name(name)]
    if not result_path.exists():
        raise FileNotFoundError(f"{result_path}: no training record for {name!r}; run notebook {notebook} first")
    record = json.loads(result_path.read_text())
    if model is None:
        ckpt = load_checkpoint(weights_path(paths, name))
        model, cfg = model_from_checkpoint(name, ckpt)
        trained = ckpt.get("run_id")
        if trained != record.get("run_id"):
            raise ValueError(f"{weights_path(paths, name)} (run {trained}) and {result_path} (run "
                             f"{record.get('run_id')}) come from different training runs; run notebook {notebook} again")
    regressor = model.regressor if isinstance(model, MultitrainModel) else model
    dataset, split = TEST_SPLIT[cfg.test_set]
    cache = FaceCache(paths.cache_dir, dataset)
    rows = cache.split(split)
    ds = FaceDataset(cache, split)
    pred, true = predict(regressor, _loader(ds, 128, False, cfg), device, cfg.amp)
    train_ages = record["train"]["train_ages"]
    test = regression_metrics(pred, true)
    ref = mean_predictor_metrics(train_ages, true)
    pred_dir = paths.results_dir / "predictions"
    pred_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"index": rows["index"].to_numpy(), "source": rows["source"].to_numpy(), "age": true,
                  "pred": pred}).to_csv(pred_dir / f"{name}.csv", index=False)
    write_result(paths.results_dir, name, test={"dataset": dataset, "split": split, "test_set": cfg.test_set, **test},
                 mean_predictor=ref, predictions=paths.rel(pred_dir / f"{name}.csv"),
                 test_data_hash=cache.split_hashes.get(split, cache.data_hash))
    return {"test": test, "mean_predictor": ref}


def test_table(paths: Paths, seeds, names) -> pd.DataFrame:
    """Test metrics of the named runs in each seed, each beside its mean-age predictor's MAE."""
    rows = {}
    for seed in ([seeds] if isinstance(seeds, int) else seeds):
        results_dir = paths.for_seed(seed).results_dir
        for name in names:
            r = json.loads((results_dir / f"{name}.json").read_text())
            if "test" in r:
                rows[(name, seed)] = {**{k: r["test"][k] for k in ("mae", "rmse", "r2", "ca3", "ca5", "n")},
                                      "mean predictor mae": r["mean_predictor"]["mae"]}
    return pd.DataFrame(rows).T.rename_axis(["run", "seed"])
