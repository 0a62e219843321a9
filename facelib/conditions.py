"""The study's recipes, each a plain function over the one `fit` loop, readable top to bottom.

- `baseline`              backbone + simple head on UTKFace
- `korean_finetuned`      the baseline's backbone, deeper head, on the identities' fine-tuning people
- `vcop`                  order pretraining on the identities' pretext people
- `supervised_pretext`    plain age regression on exactly the photos `vcop` sees, with its budget
- `vcop_downstream`       the order-pretrained encoder fine-tuned for age (condition 3), and its controls,
  fine-tuned exactly alike: `aihub_scratch` (from the weights the pretext model started from) and
  `supervised_downstream` (from `supervised_pretext`)
- `multitrain`            order loss and age loss in every step (condition 4)

Each writes `weights/<name>.pt` and `outputs/results/<name>.json`; `evaluate.evaluate_condition` adds
the test split's metrics. Condition 3, its controls and condition 4 each train once per backbone
learning-rate multiplier in `backbone_lr_grid` and keep the one with the lowest validation MAE.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from torch import nn

from .config import (CONTROL, FINETUNE_ARMS, FIXED, SUPERVISED_CONTROL, SUPERVISED_PRETEXT, Config, base_name,
                     config_from_dict, labelled_name)
from .data.augment import BatchAugment
from .data.cache import FaceCache
from .data.datasets import permutations
from .data.loaders import face_loaders, split_loader, tuple_loaders
from .evaluate import evaluate_condition
from .metrics import order_metrics, regression_metrics
from .models import set_output_bias
from .models.build import build_multitrain, build_order_model, build_regressor, model_from_checkpoint
from .paths import Paths
from .provenance import key_id, record_fields, run_key, weights_fields
from .results import write_result
from .train import (FitResult, MultiTask, OrderTask, RegressionTask, ZipLoader, fit, load_checkpoint, predict,
                    predict_order, save_atomic, seed_everything)

# The encoder weights every pretext model (and `aihub_scratch`) starts from, saved by `vcop` for
# measuring what pretraining changed (frozen-encoder probes).
PRETEXT_START = "pretext_start"
PREREQUISITE_NOTEBOOK = {"baseline": "03_finetune_base_to_kor", "korean_finetuned": "03_finetune_base_to_kor",
                         "vcop": "01_ssl-preTextTask", PRETEXT_START: "01_ssl-preTextTask",
                         SUPERVISED_PRETEXT: "02_ssl-regression",
                         "vcop_downstream": "02_ssl-regression", CONTROL: "02_ssl-regression",
                         SUPERVISED_CONTROL: "02_ssl-regression", "multitrain": "05_multitrain"}
# Where each fine-tuning arm starts: the pretext run whose encoder it loads (None: the weights the
# pretext model started from).
ARM_START = {"vcop_downstream": "vcop", CONTROL: None, SUPERVISED_CONTROL: SUPERVISED_PRETEXT}


@dataclass
class RunResult:
    name: str
    model: nn.Module
    fit: FitResult
    val: dict           # metrics on the run's own validation split (its identities' people alone)
    weights: Path
    train_ages: np.ndarray | None = None
    heldout: dict | None = None     # metrics on the identities' held-out people
    selection: dict | None = None   # the backbone multipliers tried and the one kept


def check_name(name: str) -> str:
    if base_name(name) not in PREREQUISITE_NOTEBOOK:
        raise ValueError(f"condition={name!r} is not one of {', '.join(map(repr, PREREQUISITE_NOTEBOOK))}")
    return name


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


def identities(cfg: Config, paths: Paths) -> FaceCache:
    """The identities dataset (AIHub or FG-NET), its people split for this model seed."""
    return FaceCache(paths.cache_dir, cfg.identities,
                     split_seed=(cfg.data_seed, cfg.seed) if cfg.resplit_identities else None)


# ---------------------------------------------------------------- shared steps

def _train(name: str, cfg: Config, paths: Paths, model, task, train_loader, val_loader, groups, tc, key,
           progress: bool, max_epochs=None, part: str = "") -> FitResult:
    """`fit` into weights/runs/<name>[/<part>]/, with TensorBoard and history under outputs/runs/."""
    sub = f"{name}/{part}" if part else name
    res = fit(model, task, train_loader, val_loader, param_groups=groups, train_cfg=tc,
              run_dir=paths.weights_dir / "runs" / sub, seed=cfg.seed, device=cfg.device, amp=cfg.amp,
              progress=progress, tensorboard_dir=paths.runs_dir / sub, config=cfg.to_dict(), key=key,
              max_epochs=max_epochs, label=sub)
    (paths.runs_dir / sub).mkdir(parents=True, exist_ok=True)
    res.history.to_csv(paths.runs_dir / sub / "history.csv", index=False)
    return res


def _save(name: str, cfg: Config, paths: Paths, model, run_id: str) -> Path:
    state = model.state_dict()
    wpath = weights_path(paths, name)
    save_atomic({"model": state, **weights_fields(cfg, paths, name, run_id, state)}, wpath)
    return wpath


def _require(paths: Paths, name: str) -> tuple[dict, str]:
    """The checkpoint a run starts from, and the hash of its weights (for the run key)."""
    from .provenance import state_hash
    p = weights_path(paths, name)
    if not p.exists():
        raise FileNotFoundError(f"{p}: the {name!r} weights this step starts from do not exist; "
                                f"run notebook {PREREQUISITE_NOTEBOOK[base_name(name)]} first")
    ckpt = load_checkpoint(p)
    return ckpt, ckpt.get("state_hash") or state_hash(ckpt["model"])


def _errors(model, cfg: Config, cache: FaceCache, split: str, copies: int) -> dict:
    """Metrics of a regressor on one split, with each face's absolute error, person and cache row
    (for comparisons that pair faces and resample people)."""
    pred, true = predict(model, split_loader(cfg, cache, split, 128, copies), cfg.device, cfg.amp)
    rows = cache.split(split)
    return {"dataset": cache.name, "split": split, **regression_metrics(pred, true),
            "abs_errors": np.abs(pred - true).round(3).tolist(), "identities": rows["identity"].astype(str).tolist(),
            "faces": rows["index"].astype(int).tolist(), "ages": np.asarray(true, dtype=float).tolist()}


def _train_block(train_ages, cache: FaceCache, split: str) -> dict:
    return {"dataset": cache.name, "split": split, "n": int(len(train_ages)), "mean_age": float(np.mean(train_ages)),
            "train_ages": np.asarray(train_ages).tolist()}


def _val_split(cfg: Config, cache: FaceCache, split: str, rehearsal: bool) -> str:
    share = cfg.finetune_utkface_share() if rehearsal else 0.0
    return f"{cache.name}/{split}" + (f" + UTKFace val ({share:.0%} of the faces)" if share else "")


def _regression(name, cfg, paths, model, cache, train_split, val_split, groups, tc, progress, *, copies=1,
                max_epochs=None, upstream=None, fraction=1.0, rehearsal=False, augment=None, part=""):
    """Train a regressor on one split, choosing its epoch on another; (FitResult, training ages)."""
    tr, va, train_ages = face_loaders(cfg, cache, train_split, val_split, tc.batch_size, copies, fraction,
                                      rehearsal)
    key = run_key(cfg, cache, (train_split, val_split), upstream, fraction, rehearsal)
    task = RegressionTask(tc.loss, augment or BatchAugment())
    res = _train(name, cfg, paths, model, task, tr, va, groups, tc, key, progress, max_epochs, part)
    return res, train_ages


# ---------------------------------------------------------------- conditions 1 and 2

def baseline(cfg: Config, paths: Paths, progress: bool = True, max_epochs=None) -> RunResult:
    """Condition 1: backbone + simple head trained on UTKFace train (validated on UTKFace val)."""
    seed_everything(cfg.seed)  # the initial weights depend on the seed alone
    cache = FaceCache(paths.cache_dir, "utkface")
    model = build_regressor(cfg)
    set_output_bias(model.head, float(cache.split("train")["age"].mean()))
    tc = cfg.baseline
    res, ages = _regression("baseline", cfg, paths, model, cache, "train", "val",
                            model.param_groups(tc.lr, tc.backbone_lr_mult), tc, progress, max_epochs=max_epochs)
    wpath = _save("baseline", cfg, paths, model, key_id(res.key))
    val = {k: v for k, v in _errors(model, cfg, cache, "val", 1).items() if k not in ("identities", "faces", "ages")}
    write_result(paths.results_dir, "baseline", fresh=True,
                 **record_fields(cfg, paths, cache, res, wpath, "baseline", "regressor"),
                 train=_train_block(ages, cache, "train"), val=val,
                 selection={"epoch": f"lowest validation MAE on {_val_split(cfg, cache, 'val', False)}"},
                 history=paths.rel(paths.runs_dir / "baseline" / "history.csv"), utkface_share=0.0)
    return RunResult("baseline", model, res, val, wpath, ages)


def korean_finetuned(cfg: Config, paths: Paths, progress: bool = True, max_epochs=None) -> RunResult:
    """Condition 2: the baseline's backbone (head re-initialised, deeper), backbone LR = 0.1 x head LR,
    age-weighted L1, on the identities' fine-tuning people (with UTKFace training faces mixed in when
    `cfg.finetune_utkface_share()` > 0, as for conditions 3, 4 and the controls)."""
    seed_everything(cfg.seed)  # the initial weights depend on the seed alone
    base, base_hash = _require(paths, "baseline")
    cache = identities(cfg, paths)
    model = build_regressor(replace(cfg, imagenet_init=False), head="korean")  # the baseline's backbone follows
    model.backbone.load_state_dict({k[len("backbone."):]: v for k, v in base["model"].items()
                                    if k.startswith("backbone.")})
    set_output_bias(model.head, float(cache.split("finetune_train")["age"].mean()))
    tc = cfg.korean_finetuned
    res, ages = _regression("korean_finetuned", cfg, paths, model, cache, "finetune_train", "finetune_val",
                            model.param_groups(tc.lr, tc.backbone_lr_mult), tc, progress, max_epochs=max_epochs,
                            upstream={"baseline": base_hash}, rehearsal=True)
    return _finish_regressor("korean_finetuned", cfg, paths, model, cache, res, ages, 1, rehearsal=True)


def _finish_regressor(name, cfg, paths, model, cache, res, ages, copies, rehearsal, selection=None,
                      part="", **extra) -> RunResult:
    """Save a fine-tuned regressor and its record: its own validation people, its held-out people."""
    run_id = key_id({"candidates": selection["keys"]}) if selection else key_id(res.key)
    wpath = _save(name, cfg, paths, model, run_id)
    val = {k: v for k, v in _errors(model, cfg, cache, "finetune_val", copies).items()
           if k not in ("identities", "faces", "abs_errors", "ages")}
    heldout = _errors(model, cfg, cache, "heldout", copies)
    chosen = {"epoch": f"lowest validation MAE on {_val_split(cfg, cache, 'finetune_val', rehearsal)}"}
    if selection:
        chosen.update({k: v for k, v in selection.items() if k != "keys"})
    fields = record_fields(cfg, paths, cache, res, wpath, name, "regressor")
    fields["run_id"] = run_id
    fields["finished"] = bool(res.finished and (selection or {}).get("finished", True))
    hist = f"{name}/{part}" if part else name
    write_result(paths.results_dir, name, fresh=True, **fields, train=_train_block(ages, cache, "finetune_train"),
                 val=val, heldout=heldout, selection=chosen,
                 history=paths.rel(paths.runs_dir / hist / "history.csv"),
                 utkface_share=cfg.finetune_utkface_share() if rehearsal else 0.0, **extra)
    return RunResult(name, model, res, val, wpath, ages, heldout, chosen)


# ---------------------------------------------------------------- pretraining

def _order_eval(model, task, loader, cfg, perms) -> dict:
    logits, labels, ages, grey = predict_order(model, task, loader, cfg.device, cfg.amp)
    return order_metrics(logits, labels, perms.numpy(), ages, grey=grey)


def _fixed_epochs(tc):
    """The sensitivity arm's pretext block: every epoch run (no early stopping), the last one kept."""
    return replace(tc, patience=tc.epochs, keep="last")


def vcop(cfg: Config, paths: Paths, progress: bool = True, max_epochs=None, fixed: bool = False) -> RunResult:
    """The pretext task: put T shuffled photos of one person back in order (the identities' pretext
    people; pretext_val picks the epoch of the highest Kendall tau). Its order metrics are measured
    on tuples of the held-out people, whom no run trains on.

    fixed: the sensitivity arm `vcop_fixed`: all `vcop.epochs` epochs, the last one kept."""
    seed_everything(cfg.seed)  # the initial weights depend on the seed alone
    cache = identities(cfg, paths)
    name = "vcop" + (FIXED if fixed else "")
    tc = _fixed_epochs(cfg.vcop) if fixed else cfg.vcop
    tr, va = tuple_loaders(cfg, cache, "pretext_train", "pretext_val", tc.batch_size)
    model = build_order_model(cfg, cfg.encoder)
    if not fixed:
        _save(PRETEXT_START, cfg, paths, model, "start")
    perms = permutations(cfg.tuple_len)
    task = OrderTask(perms, cfg.order_loss, cfg.soft_temperature, BatchAugment(grayscale=cfg.order_grayscale),
                     cfg.kendall_convention)
    groups = [{"params": model.parameters(), "lr": tc.lr, "name": "all"}]
    key = run_key(cfg, cache, ("pretext_train", "pretext_val"))
    res = _train(name, cfg, paths, model, task, tr, va, groups, tc, key, progress, max_epochs)
    res.budget["images"] *= cfg.tuple_len  # tuples → photos
    wpath = _save(name, cfg, paths, model, key_id(res.key))
    _, held = tuple_loaders(cfg, cache, "pretext_train", "heldout", tc.batch_size)
    pretext = _order_eval(model, task, held, cfg, perms)
    on_val = _order_eval(model, task, va, cfg, perms)  # what order recipes are compared on
    val = res.history.iloc[res.kept_epoch].to_dict() if res.kept_epoch >= 0 else {}
    write_result(paths.results_dir, name, fresh=True, **record_fields(cfg, paths, cache, res, wpath, name, "order"),
                 encoder=cfg.encoder, tuple_len=cfg.tuple_len, min_age_gap=cfg.min_age_gap,
                 dropped_identities=len(tr.dataset.dropped),
                 pretext={**pretext, "split": f"{cache.name}/heldout (people never seen in pretraining)"},
                 pretext_val={**on_val, "split": f"{cache.name}/pretext_val (chooses the epoch)"},
                 val={k: float(v) for k, v in val.items()},
                 selection={"epoch": _pretext_epoch_rule(fixed, tc, f"highest Kendall tau on {cache.name}/pretext_val")},
                 history=paths.rel(paths.runs_dir / name / "history.csv"))
    return RunResult(name, model, res, on_val, wpath, heldout=pretext)


def _pretext_epoch_rule(fixed: bool, tc, best: str) -> str:
    return f"the last of {tc.epochs} epochs (fixed-epoch sensitivity arm; nothing chosen)" if fixed else best


def supervised_pretext(cfg: Config, paths: Paths, progress: bool = True, max_epochs=None,
                       fixed: bool = False) -> RunResult:
    """The pretraining of the supervised control: per-photo age regression (L1) on exactly the people
    and photos `vcop` trains on (pretext_train; pretext_val picks the epoch), with its epochs,
    learning rate, augmentation and images per step (T photos for each of its tuples), and as many
    steps per epoch: what ordering adds beyond the labels it is built from is the difference
    between condition 3 and `supervised_downstream`.

    fixed: the sensitivity arm `supervised_pretext_fixed`: all `vcop.epochs` epochs, the last one kept."""
    seed_everything(cfg.seed)
    cache = identities(cfg, paths)
    name = SUPERVISED_PRETEXT + (FIXED if fixed else "")
    tuples_per_epoch = len(tuple_loaders(cfg, cache, "pretext_train", "pretext_val", cfg.vcop.batch_size)[0])
    tc = replace(_fixed_epochs(cfg.vcop) if fixed else cfg.vcop, loss="l1",
                 batch_size=cfg.vcop.batch_size * cfg.tuple_len, steps_per_epoch=tuples_per_epoch)
    model = build_regressor(cfg, encoder=cfg.encoder)
    if cfg.encoder == "shared2d":
        set_output_bias(model.head, float(cache.split("pretext_train")["age"].mean()))
    copies = cfg.tuple_len if cfg.encoder == "r21d_original" else 1
    groups = [{"params": model.parameters(), "lr": tc.lr, "name": "all"}]
    res, ages = _regression(name, cfg, paths, model, cache, "pretext_train", "pretext_val", groups, tc,
                            progress, copies=copies, max_epochs=max_epochs,
                            augment=BatchAugment(grayscale=cfg.order_grayscale))
    wpath = _save(name, cfg, paths, model, key_id(res.key))
    val = {k: v for k, v in _errors(model, cfg, cache, "pretext_val", copies).items()
           if k not in ("identities", "faces", "abs_errors", "ages")}
    write_result(paths.results_dir, name, fresh=True,
                 **record_fields(cfg, paths, cache, res, wpath, name, "pretext"),
                 encoder=cfg.encoder, train=_train_block(ages, cache, "pretext_train"), val=val,
                 selection={"epoch": _pretext_epoch_rule(fixed, tc, f"lowest validation MAE on {cache.name}/pretext_val")},
                 history=paths.rel(paths.runs_dir / name / "history.csv"))
    return RunResult(name, model, res, val, wpath, ages)


# ---------------------------------------------------------------- condition 3, its controls, condition 4

def _select(name: str, cfg: Config, train_one) -> tuple[float, dict, dict]:
    """Train one candidate per backbone multiplier in `cfg.backbone_lr_grid` (each from the same
    initial weights) and keep the one with the lowest validation MAE. Returns (multiplier, the
    candidates {m: (FitResult, model, ...)}, the selection record)."""
    candidates = {m: train_one(m) for m in cfg.backbone_lr_grid}
    best = min(candidates, key=lambda m: candidates[m][0].best_metric)
    record = {"backbone_lr_mult": best, "backbone_lr_grid": list(cfg.backbone_lr_grid),
              "val_mae_by_mult": {f"{m:g}": float(c[0].best_metric) for m, c in candidates.items()},
              "mult": "lowest validation MAE among backbone_lr_grid, on the split that picks the epoch",
              "finished": all(c[0].finished for c in candidates.values()),
              "images_seen_all_candidates": int(sum(c[0].budget["images"] for c in candidates.values())),
              "keys": {f"{m:g}": c[0].key for m, c in candidates.items()}}
    print(f"[{name}] backbone LR multiplier {best:g} kept (validation MAE "
          + ", ".join(f"{m:g}: {c[0].best_metric:.3f}" for m, c in candidates.items()) + ")")
    return best, candidates, record


def finetune_arm(cfg: Config, paths: Paths, arm: str = "vcop_downstream", label_fraction: float = 1.0,
                 progress: bool = True, max_epochs=None, fixed: bool = False) -> RunResult:
    """Condition 3 (`vcop_downstream`) or one of its controls (`aihub_scratch`, `supervised_downstream`),
    fine-tuned for age on the identities' fine-tuning people, all with the same training block
    (`cfg.vcop_downstream`), rehearsal and selection; they differ only in the encoder they start from
    (`ARM_START`).

    label_fraction: train on this share of the fine-tuning people (the same subset for every arm,
        nested across fractions); the run is named e.g. `vcop_downstream_labels25`.
    fixed: start from the fixed-epoch sensitivity arm's pretext (`vcop_fixed`, `supervised_pretext_fixed`);
        the run is named e.g. `vcop_downstream_fixed`."""
    if arm not in FINETUNE_ARMS:
        raise ValueError(f"arm={arm!r} is not one of {', '.join(map(repr, FINETUNE_ARMS))}")
    if fixed and ARM_START[arm] is None:
        raise ValueError(f"{arm} starts from no pretext, so it has no fixed-epoch variant")
    name = labelled_name(arm + (FIXED if fixed else ""), label_fraction)
    cache = identities(cfg, paths)
    start, upstream, pre = ARM_START[arm], {}, None
    start = start + FIXED if fixed and start else start
    if start is not None:
        pre, upstream[start] = _require(paths, start)
        pre_cfg = config_from_dict(pre["config"])
        if pre_cfg.encoder != cfg.encoder or pre_cfg.backbone != cfg.backbone:
            raise ValueError(f"weights/{start}.pt was trained with encoder={pre_cfg.encoder!r}, backbone="
                             f"{pre_cfg.backbone!r}, but this run asks for encoder={cfg.encoder!r}, backbone="
                             f"{cfg.backbone!r}; run notebook {PREREQUISITE_NOTEBOOK[base_name(start)]} again "
                             "with these")
    copies = cfg.tuple_len if cfg.encoder == "r21d_original" else 1
    tc = cfg.vcop_downstream

    def train_one(mult):
        seed_everything(cfg.seed)  # every candidate and every arm starts from the same random head
        # The no-pretraining control starts where the pretext model started (ImageNet when imagenet_init).
        model = build_regressor(cfg if pre is None else replace(cfg, imagenet_init=False), encoder=cfg.encoder)
        if pre is not None:
            prefix = "encoder." if base_name(start) == "vcop" and cfg.encoder == "r21d_original" else "backbone."
            model.backbone.load_state_dict({k[len(prefix):]: v for k, v in pre["model"].items()
                                            if k.startswith(prefix)})
        if cfg.encoder == "shared2d":
            set_output_bias(model.head, float(cache.split("finetune_train", label_fraction, cfg.data_seed)["age"].mean()))
        tcm = replace(tc, backbone_lr_mult=mult)
        res, ages = _regression(name, cfg, paths, model, cache, "finetune_train", "finetune_val",
                                model.param_groups(tcm.lr, mult), tcm, progress, copies=copies,
                                max_epochs=max_epochs, upstream=upstream, fraction=label_fraction, rehearsal=True,
                                part=f"lr{mult:g}")
        return res, model, ages

    mult, cands, selection = _select(name, cfg, train_one)
    res, model, ages = cands[mult]
    return _finish_regressor(name, cfg, paths, model, cache, res, ages, copies, rehearsal=True, selection=selection,
                             part=f"lr{mult:g}", label_fraction=label_fraction, start=start or "no pretraining")


def vcop_downstream(cfg: Config, paths: Paths, progress: bool = True, max_epochs=None,
                    label_fraction: float = 1.0) -> RunResult:
    """Condition 3: the order-pretrained encoder + a regression head (see `finetune_arm`)."""
    return finetune_arm(cfg, paths, "vcop_downstream", label_fraction, progress, max_epochs)


def condition_3_arms(cfg: Config, paths: Paths, controls: bool = True, label_fractions=(), progress: bool = True,
                     evaluate: bool = True, fixed_epoch_arm: bool = False) -> dict:
    """Condition 3 and (with `controls`) both controls, and the control's pretraining first, on all
    the fine-tuning labels and on each share in `label_fractions` (e.g. [0.1, 0.25, 0.5]; the same
    people for every arm), each tested on the test split when `evaluate`; with `fixed_epoch_arm`
    (and `controls`), the sensitivity arm too: `supervised_pretext_fixed`, then condition 3 and the
    supervised control fine-tuned from the fixed-epoch pretexts (`vcop_fixed` from notebook 01).
    Returns {run name: RunResult}."""
    runs = {}
    if controls:
        runs[SUPERVISED_PRETEXT] = supervised_pretext(cfg, paths, progress)
    for fraction in sorted({*map(float, label_fractions), 1.0}):
        for arm in (FINETUNE_ARMS if controls else ("vcop_downstream",)):
            run = finetune_arm(cfg, paths, arm, fraction, progress)
            runs[run.name] = run
            if evaluate:
                evaluate_condition(run.name, paths, run.model, cfg)
    if controls and fixed_epoch_arm:
        run = supervised_pretext(cfg, paths, progress, fixed=True)
        runs[run.name] = run
        for arm in ("vcop_downstream", SUPERVISED_CONTROL):
            run = finetune_arm(cfg, paths, arm, progress=progress, fixed=True)
            runs[run.name] = run
            if evaluate:
                evaluate_condition(run.name, paths, run.model, cfg)
    return runs


def multitrain(cfg: Config, paths: Paths, progress: bool = True, max_epochs=None) -> RunResult:
    """Condition 4: every step computes λ·age loss (fine-tuning faces) + (1 − λ)·order loss (pretext
    tuples); one shared encoder with two heads, or two independent encoders (`share_encoder`)."""
    cache = identities(cfg, paths)
    tc = cfg.multitrain
    copies = cfg.tuple_len if cfg.encoder == "r21d_original" else 1
    ftr, fva, ages = face_loaders(cfg, cache, "finetune_train", "finetune_val", tc.batch_size, copies,
                                  rehearsal=True)
    otr, ova = tuple_loaders(cfg, cache, "pretext_train", "pretext_val", max(1, tc.batch_size // cfg.tuple_len))
    perms = permutations(cfg.tuple_len)
    task = MultiTask(OrderTask(perms, cfg.order_loss, cfg.soft_temperature,
                               BatchAugment(grayscale=cfg.order_grayscale), cfg.kendall_convention),
                     RegressionTask(tc.loss, BatchAugment()), cfg.multitrain_lambda)
    key = run_key(cfg, cache, ("finetune_train", "finetune_val", "pretext_train", "pretext_val"), rehearsal=True)

    def train_one(mult):
        seed_everything(cfg.seed)
        model = build_multitrain(cfg)
        if cfg.encoder == "shared2d":
            set_output_bias(model.regressor.head, float(cache.split("finetune_train")["age"].mean()))
        tcm = replace(tc, backbone_lr_mult=mult)
        res = _train("multitrain", cfg, paths, model, task, ZipLoader(ftr, otr), ZipLoader(fva, ova),
                     model.param_groups(tcm.lr, mult), tcm, key, progress, max_epochs, part=f"lr{mult:g}")
        return res, model, ages

    mult, cands, selection = _select("multitrain", cfg, train_one)
    res, model, _ = cands[mult]
    _, held = tuple_loaders(cfg, cache, "pretext_train", "heldout", max(1, tc.batch_size // cfg.tuple_len))
    logits, labels, order_ages, grey = predict_order(model.order, task.order, held, cfg.device, cfg.amp)
    run = _finish_regressor("multitrain", cfg, paths, model, cache, res, ages, copies, rehearsal=True,
                            selection=selection, part=f"lr{mult:g}",
                            pretext_heldout=order_metrics(logits, labels, perms.numpy(), order_ages, grey=grey),
                            share_encoder=cfg.share_encoder, multitrain_lambda=cfg.multitrain_lambda)
    return run
