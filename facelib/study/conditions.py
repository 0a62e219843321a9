"""The study's recipes, each a plain function that builds its runs (`RunSpec`) for the one `fit` loop.

- `baseline`              backbone + simple head on UTKFace
- `korean_finetuned`      the baseline's backbone, deeper head, on the identities' fine-tuning people
- `vcop`                  order pretraining on the identities' pretext people
- `supervised_pretext`    plain age regression on exactly the photos `vcop` sees, with its budget
- `finetune_arm`          the order-pretrained encoder fine-tuned for age (condition 3, `vcop_downstream`),
  and its controls, fine-tuned exactly alike: `aihub_scratch` (from the weights the pretext model
  started from) and `supervised_downstream` (from `supervised_pretext`)
- `multitrain`            order loss and age loss in every step (condition 4)

Each writes `weights/<name>.pt` and `outputs/results/<name>.json`; `evaluate.evaluate_condition` adds
the test split's metrics. Condition 3, its controls and condition 4 each train once per backbone
learning-rate multiplier in `backbone_lr_grid` and keep the one with the lowest validation MAE. What
each run is, which notebook trains it and what it starts from: `registry.RUNS`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from torch import nn

from ..checkpoints import load_checkpoint, save_atomic
from ..config import (
    FINETUNE_ARMS,
    FIXED,
    SUPERVISED_CONTROL,
    SUPERVISED_PRETEXT,
    Config,
    config_from_dict,
    labelled_name,
)
from ..data.augment import BatchAugment
from ..data.cache import FaceCache
from ..data.datasets import permutations
from ..data.loaders import face_loaders, split_loader, tuple_loaders
from ..models import set_output_bias
from ..models.build import (
    build_multitrain,
    build_order_model,
    build_regressor,
    model_from_checkpoint,
)
from ..paths import Paths
from ..registry import RUNS, notebook_of, weights_path
from ..runtime import seed_everything
from .evaluate import evaluate_condition
from .metrics import order_metrics, regression_metrics
from .provenance import key_id, record_fields, run_key, state_hash, weights_fields
from .records import write_result
from .run import Loaders, RunSpec
from .tasks import MultiTask, OrderTask, RegressionTask, ZipLoader
from .train import FitResult, fit, predict_ages, predict_order

# The encoder weights every pretext model (and `aihub_scratch`) starts from, saved by `vcop` for
# measuring what pretraining changed (frozen-encoder probes).
PRETEXT_START = "pretext_start"


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


def load_model(name: str, paths: Paths, device="cpu") -> tuple[nn.Module, Config]:
    """Rebuild a trained run from `weights/<name>.pt`; a clear error says which notebook makes it."""
    path = weights_path(paths, name)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no trained {name!r} weights; run notebook {notebook_of(name)} first")
    model, cfg = model_from_checkpoint(name, load_checkpoint(path, map_location=device))
    return model.to(device).eval(), cfg


def identities(cfg: Config, paths: Paths) -> FaceCache:
    """The identities dataset (AIHub or FG-NET), its people split for this model seed."""
    return FaceCache(paths.cache_dir, cfg.identities,
                     split_seed=(cfg.data_seed, cfg.seed) if cfg.resplit_identities else None)


# ---------------------------------------------------------------- shared steps

@dataclass
class FaceData:
    """The faces a regressor learns from and chooses its epoch on."""
    cache: FaceCache
    train_split: str
    val_split: str
    copies: int = 1            # stacked copies of each face (the `r21d_original` regressor's input)
    fraction: float = 1.0      # the share of the training people (label efficiency)
    rehearsal: bool = False    # UTKFace faces mixed in (`Config.finetune_utkface_share`)

    def val_label(self, cfg: Config) -> str:
        share = cfg.finetune_utkface_share() if self.rehearsal else 0.0
        return f"{self.cache.name}/{self.val_split}" + (f" + UTKFace val ({share:.0%} of the faces)" if share else "")


def _spec(name: str, cfg: Config, paths: Paths, model, task, loaders: Loaders, groups, tc, key) -> RunSpec:
    """A run under weights/runs/<name>/, with TensorBoard under outputs/runs/<name>/."""
    return RunSpec(name, model, task, loaders, groups, tc, cfg, key, run_dir=paths.weights_dir / "runs" / name,
                   tensorboard_dir=paths.runs_dir / name)


def _fit(spec: RunSpec, paths: Paths, progress: bool, max_epochs) -> FitResult:
    """`fit`, with the history beside the run's TensorBoard files."""
    res = fit(spec, progress=progress, max_epochs=max_epochs)
    (paths.runs_dir / spec.name).mkdir(parents=True, exist_ok=True)
    res.history.to_csv(paths.runs_dir / spec.name / "history.csv", index=False)
    return res


def _regression_spec(name: str, cfg: Config, paths: Paths, model, data: FaceData, groups, tc, upstream=None,
                     augment=None) -> tuple[RunSpec, np.ndarray]:
    """A regressor's run on `data`, and its training ages."""
    tr, va, train_ages = face_loaders(cfg, data.cache, data.train_split, data.val_split, tc.batch_size, data.copies,
                                      data.fraction, data.rehearsal)
    key = run_key(cfg, data.cache, (data.train_split, data.val_split), upstream, data.fraction, data.rehearsal)
    task = RegressionTask(tc.loss, augment or BatchAugment())
    return _spec(name, cfg, paths, model, task, Loaders(tr, va), groups, tc, key), train_ages


def _save(name: str, cfg: Config, paths: Paths, model, run_id: str) -> Path:
    state = model.state_dict()
    wpath = weights_path(paths, name)
    save_atomic({"model": state, **weights_fields(cfg, paths, name, run_id, state)}, wpath)
    return wpath


def _require(paths: Paths, name: str) -> tuple[dict, str]:
    """The checkpoint a run starts from, and the hash of its weights (for the run key)."""
    p = weights_path(paths, name)
    if not p.exists():
        raise FileNotFoundError(f"{p}: the {name!r} weights this step starts from do not exist; "
                                f"run notebook {notebook_of(name)} first")
    ckpt = load_checkpoint(p)
    return ckpt, ckpt.get("state_hash") or state_hash(ckpt["model"])


def _errors(model, cfg: Config, cache: FaceCache, split: str, copies: int) -> dict:
    """Metrics of a regressor on one split, with each face's absolute error, person, cache row and age
    (for comparisons that pair faces and resample people)."""
    pred, true = predict_ages(model, split_loader(cfg, cache, split, 128, copies), cfg.device, cfg.amp)
    rows = cache.split(split)
    return {"dataset": cache.name, "split": split, **regression_metrics(pred, true),
            "abs_errors": np.abs(pred - true).round(3).tolist(), "identities": rows["identity"].astype(str).tolist(),
            "faces": rows["index"].astype(int).tolist(), "ages": np.asarray(true, dtype=float).tolist()}


def _metrics_only(errors: dict, keep_abs_errors: bool = False) -> dict:
    drop = ("identities", "faces", "ages") + (() if keep_abs_errors else ("abs_errors",))
    return {k: v for k, v in errors.items() if k not in drop}


def _train_block(train_ages, cache: FaceCache, split: str) -> dict:
    return {"dataset": cache.name, "split": split, "n": int(len(train_ages)), "mean_age": float(np.mean(train_ages)),
            "train_ages": np.asarray(train_ages).tolist()}


@dataclass
class Trained:
    """A fine-tuned regressor after `fit`: the model holding its kept weights, its run and fit, the
    ages it trained on, and what its backbone multiplier was chosen from (None: not chosen)."""
    name: str
    model: nn.Module
    spec: RunSpec
    fit: FitResult
    ages: np.ndarray
    selection: dict | None = None


def _finish_regressor(run: Trained, cfg: Config, paths: Paths, data: FaceData) -> tuple[RunResult, dict]:
    """Save a fine-tuned regressor; (its RunResult, its record's fields: its own validation people,
    its held-out people, its selection). The recipe writes the record with its own fields added."""
    sel = run.selection
    run_id = key_id({"candidates": sel["keys"]}) if sel else key_id(run.fit.key)
    wpath = _save(run.name, cfg, paths, run.model, run_id)
    val = _metrics_only(_errors(run.model, cfg, data.cache, "finetune_val", data.copies))
    heldout = _errors(run.model, cfg, data.cache, "heldout", data.copies)
    chosen = {"epoch": f"lowest validation MAE on {data.val_label(cfg)}"}
    if sel:
        chosen.update({k: v for k, v in sel.items() if k != "keys"})
    fields = record_fields(cfg, paths, data.cache, run.fit, wpath, run.name, "regressor")
    fields.update(run_id=run_id, finished=bool(run.fit.finished and (sel or {}).get("finished", True)),
                  train=_train_block(run.ages, data.cache, "finetune_train"), val=val, heldout=heldout,
                  selection=chosen, history=paths.rel(paths.runs_dir / run.spec.name / "history.csv"),
                  utkface_share=cfg.finetune_utkface_share() if data.rehearsal else 0.0)
    return RunResult(run.name, run.model, run.fit, val, wpath, run.ages, heldout, chosen), fields


# ---------------------------------------------------------------- conditions 1 and 2

def baseline(cfg: Config, paths: Paths, progress: bool = True, max_epochs=None) -> RunResult:
    """Condition 1: backbone + simple head trained on UTKFace train (validated on UTKFace val)."""
    seed_everything(cfg.seed)  # the initial weights depend on the seed alone
    data = FaceData(FaceCache(paths.cache_dir, "utkface"), "train", "val")
    model = build_regressor(cfg)
    set_output_bias(model.head, float(data.cache.split("train")["age"].mean()))
    tc = cfg.baseline
    spec, ages = _regression_spec("baseline", cfg, paths, model, data, model.param_groups(tc.lr, tc.backbone_lr_mult),
                                  tc)
    res = _fit(spec, paths, progress, max_epochs)
    wpath = _save("baseline", cfg, paths, model, key_id(res.key))
    val = _metrics_only(_errors(model, cfg, data.cache, "val", 1), keep_abs_errors=True)
    write_result(paths.results_dir, "baseline", fresh=True,
                 **record_fields(cfg, paths, data.cache, res, wpath, "baseline", "regressor"),
                 train=_train_block(ages, data.cache, "train"), val=val,
                 selection={"epoch": f"lowest validation MAE on {data.val_label(cfg)}"},
                 history=paths.rel(paths.runs_dir / "baseline" / "history.csv"), utkface_share=0.0)
    return RunResult("baseline", model, res, val, wpath, ages)


def train_regressor(name: str, cfg: Config, paths: Paths, model, data: FaceData, tc, upstream=None,
                    progress: bool = True, max_epochs=None) -> RunResult:
    """The steps every fine-tuned regressor shares with no multiplier to choose: its run on `data`
    (backbone LR = tc.lr x tc.backbone_lr_mult), `fit`, its weights and its record (own validation
    people, held-out people). A new recipe builds its model and data and hands them here; its row in
    `registry.RUNS` makes the summary test and compare it."""
    spec, ages = _regression_spec(name, cfg, paths, model, data, model.param_groups(tc.lr, tc.backbone_lr_mult), tc,
                                  upstream=upstream)
    run, fields = _finish_regressor(Trained(name, model, spec, _fit(spec, paths, progress, max_epochs), ages), cfg,
                                    paths, data)
    write_result(paths.results_dir, name, fresh=True, **fields)
    return run


def korean_finetuned(cfg: Config, paths: Paths, progress: bool = True, max_epochs=None) -> RunResult:
    """Condition 2: the baseline's backbone (head re-initialised, deeper), backbone LR = 0.1 x head LR,
    age-weighted L1, on the identities' fine-tuning people (with UTKFace training faces mixed in when
    `cfg.finetune_utkface_share()` > 0, as for conditions 3, 4 and the controls)."""
    seed_everything(cfg.seed)  # the initial weights depend on the seed alone
    base, base_hash = _require(paths, "baseline")
    data = FaceData(identities(cfg, paths), "finetune_train", "finetune_val", rehearsal=True)
    model = build_regressor(replace(cfg, imagenet_init=False), head="korean")  # the baseline's backbone follows
    model.backbone.load_state_dict({k[len("backbone."):]: v for k, v in base["model"].items()
                                    if k.startswith("backbone.")})
    set_output_bias(model.head, float(data.cache.split("finetune_train")["age"].mean()))
    return train_regressor("korean_finetuned", cfg, paths, model, data, cfg.korean_finetuned,
                           upstream={"baseline": base_hash}, progress=progress, max_epochs=max_epochs)


# ---------------------------------------------------------------- pretraining

def _order_eval(model, task, loader, cfg, perms) -> dict:
    logits, labels, ages, grey = predict_order(model, task, loader, cfg.device, cfg.amp)
    return order_metrics(logits, labels, perms.numpy(), ages, grey=grey)


def _fixed_epochs(tc):
    """The sensitivity arm's pretext block: every epoch run (no early stopping), the last one kept."""
    return replace(tc, patience=tc.epochs, keep="last")


def _pretext_epoch_rule(fixed: bool, tc, best: str) -> str:
    return f"the last of {tc.epochs} epochs (fixed-epoch sensitivity arm; nothing chosen)" if fixed else best


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
    res = _fit(_spec(name, cfg, paths, model, task, Loaders(tr, va), groups, tc, key), paths, progress, max_epochs)
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


def supervised_pretext(cfg: Config, paths: Paths, progress: bool = True, max_epochs=None,
                       fixed: bool = False) -> RunResult:
    """The pretraining of the supervised control: per-photo age regression (with the fine-tuning's loss,
    `vcop_downstream.loss`: L1 in facelib's design, MSE in the original's) on exactly the people
    and photos `vcop` trains on (pretext_train; pretext_val picks the epoch), with its epochs,
    learning rate, augmentation and images per step (T photos for each of its tuples), and as many
    steps per epoch: what ordering adds beyond the labels it is built from is the difference
    between condition 3 and `supervised_downstream`.

    fixed: the sensitivity arm `supervised_pretext_fixed`: all `vcop.epochs` epochs, the last one kept."""
    seed_everything(cfg.seed)
    cache = identities(cfg, paths)
    name = SUPERVISED_PRETEXT + (FIXED if fixed else "")
    tuples_per_epoch = len(tuple_loaders(cfg, cache, "pretext_train", "pretext_val", cfg.vcop.batch_size)[0])
    tc = replace(_fixed_epochs(cfg.vcop) if fixed else cfg.vcop, loss=cfg.vcop_downstream.loss,
                 batch_size=cfg.vcop.batch_size * cfg.tuple_len, steps_per_epoch=tuples_per_epoch)
    model = build_regressor(cfg, encoder=cfg.encoder)
    if cfg.encoder == "shared2d":
        set_output_bias(model.head, float(cache.split("pretext_train")["age"].mean()))
    data = FaceData(cache, "pretext_train", "pretext_val", copies=cfg.tuple_len if cfg.encoder == "r21d_original" else 1)
    groups = [{"params": model.parameters(), "lr": tc.lr, "name": "all"}]
    spec, ages = _regression_spec(name, cfg, paths, model, data, groups, tc,
                                  augment=BatchAugment(grayscale=cfg.order_grayscale))
    res = _fit(spec, paths, progress, max_epochs)
    wpath = _save(name, cfg, paths, model, key_id(res.key))
    val = _metrics_only(_errors(model, cfg, cache, "pretext_val", data.copies))
    write_result(paths.results_dir, name, fresh=True,
                 **record_fields(cfg, paths, cache, res, wpath, name, "pretext"),
                 encoder=cfg.encoder, train=_train_block(ages, cache, "pretext_train"), val=val,
                 selection={"epoch": _pretext_epoch_rule(fixed, tc, f"lowest validation MAE on {cache.name}/pretext_val")},
                 history=paths.rel(paths.runs_dir / name / "history.csv"))
    return RunResult(name, model, res, val, wpath, ages)


# ---------------------------------------------------------------- condition 3, its controls, condition 4

def _select(name: str, cfg: Config, train_one) -> Trained:
    """Train one candidate per backbone multiplier in `cfg.backbone_lr_grid` (each from the same
    initial weights) and keep the one with the lowest validation MAE, with what it was chosen from."""
    candidates = {m: train_one(m) for m in cfg.backbone_lr_grid}
    best = min(candidates, key=lambda m: candidates[m].fit.best_metric)
    record = {"backbone_lr_mult": best, "backbone_lr_grid": list(cfg.backbone_lr_grid),
              "val_mae_by_mult": {f"{m:g}": float(c.fit.best_metric) for m, c in candidates.items()},
              "mult": "lowest validation MAE among backbone_lr_grid, on the split that picks the epoch",
              "finished": all(c.fit.finished for c in candidates.values()),
              "images_seen_all_candidates": int(sum(c.fit.budget["images"] for c in candidates.values())),
              "keys": {f"{m:g}": c.fit.key for m, c in candidates.items()}}
    print(f"[{name}] backbone LR multiplier {best:g} kept (validation MAE "
          + ", ".join(f"{m:g}: {c.fit.best_metric:.3f}" for m, c in candidates.items()) + ")")
    return replace(candidates[best], selection=record)


def finetune_arm(cfg: Config, paths: Paths, arm: str = "vcop_downstream", label_fraction: float = 1.0,
                 progress: bool = True, max_epochs=None, fixed: bool = False) -> RunResult:
    """Condition 3 (`vcop_downstream`) or one of its controls (`aihub_scratch`, `supervised_downstream`),
    fine-tuned for age on the identities' fine-tuning people, all with the same training block
    (`cfg.vcop_downstream`), rehearsal and selection; they differ only in the encoder they start from
    (`registry.RUNS[arm].starts_from`).

    label_fraction: train on this share of the fine-tuning people (the same subset for every arm,
        nested across fractions); the run is named e.g. `vcop_downstream_labels25`.
    fixed: start from the fixed-epoch sensitivity arm's pretext (`vcop_fixed`, `supervised_pretext_fixed`);
        the run is named e.g. `vcop_downstream_fixed`."""
    if arm not in FINETUNE_ARMS:
        raise ValueError(f"arm={arm!r} is not one of {', '.join(map(repr, FINETUNE_ARMS))}")
    if fixed and RUNS[arm].starts_from is None:
        raise ValueError(f"{arm} starts from no pretext, so it has no fixed-epoch variant")
    name = labelled_name(arm + (FIXED if fixed else ""), label_fraction)
    start = RUNS[arm + (FIXED if fixed else "")].starts_from
    data = FaceData(identities(cfg, paths), "finetune_train", "finetune_val",
                    copies=cfg.tuple_len if cfg.encoder == "r21d_original" else 1, fraction=label_fraction,
                    rehearsal=True)
    upstream, pre = {}, None
    if start is not None:
        pre, upstream[start] = _require(paths, start)
        pre_cfg = config_from_dict(pre["config"])
        if pre_cfg.encoder != cfg.encoder or pre_cfg.backbone != cfg.backbone:
            raise ValueError(f"weights/{start}.pt was trained with encoder={pre_cfg.encoder!r}, backbone="
                             f"{pre_cfg.backbone!r}, but this run asks for encoder={cfg.encoder!r}, backbone="
                             f"{cfg.backbone!r}; run notebook {notebook_of(start)} again with these")
    tc = cfg.vcop_downstream

    def train_one(mult) -> Trained:
        seed_everything(cfg.seed)  # every candidate and every arm starts from the same random head
        # The no-pretraining control starts where the pretext model started (ImageNet when imagenet_init).
        model = build_regressor(cfg if pre is None else replace(cfg, imagenet_init=False), encoder=cfg.encoder)
        if pre is not None:
            prefix = "encoder." if start.startswith("vcop") and cfg.encoder == "r21d_original" else "backbone."
            model.backbone.load_state_dict({k[len(prefix):]: v for k, v in pre["model"].items()
                                            if k.startswith(prefix)})
        if cfg.encoder == "shared2d":
            set_output_bias(model.head, float(data.cache.split("finetune_train", label_fraction,
                                                               cfg.data_seed)["age"].mean()))
        tcm = replace(tc, backbone_lr_mult=mult)
        spec, ages = _regression_spec(f"{name}/lr{mult:g}", cfg, paths, model, data, model.param_groups(tcm.lr, mult),
                                      tcm, upstream=upstream)
        return Trained(name, model, spec, _fit(spec, paths, progress, max_epochs), ages)

    run, fields = _finish_regressor(_select(name, cfg, train_one), cfg, paths, data)
    write_result(paths.results_dir, name, fresh=True, **fields, label_fraction=label_fraction,
                 start=start or "no pretraining")
    return run


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
    data = FaceData(identities(cfg, paths), "finetune_train", "finetune_val",
                    copies=cfg.tuple_len if cfg.encoder == "r21d_original" else 1, rehearsal=True)
    cache, tc = data.cache, cfg.multitrain
    ftr, fva, ages = face_loaders(cfg, cache, "finetune_train", "finetune_val", tc.batch_size, data.copies,
                                  rehearsal=True)
    otr, ova = tuple_loaders(cfg, cache, "pretext_train", "pretext_val", max(1, tc.batch_size // cfg.tuple_len))
    perms = permutations(cfg.tuple_len)
    task = MultiTask(OrderTask(perms, cfg.order_loss, cfg.soft_temperature,
                               BatchAugment(grayscale=cfg.order_grayscale), cfg.kendall_convention),
                     RegressionTask(tc.loss, BatchAugment()), cfg.multitrain_lambda)
    key = run_key(cfg, cache, ("finetune_train", "finetune_val", "pretext_train", "pretext_val"), rehearsal=True)

    def train_one(mult) -> Trained:
        seed_everything(cfg.seed)
        model = build_multitrain(cfg)
        if cfg.encoder == "shared2d":
            set_output_bias(model.regressor.head, float(cache.split("finetune_train")["age"].mean()))
        tcm = replace(tc, backbone_lr_mult=mult)
        spec = _spec(f"multitrain/lr{mult:g}", cfg, paths, model, task,
                     Loaders(ZipLoader(ftr, otr), ZipLoader(fva, ova)), model.param_groups(tcm.lr, mult), tcm, key)
        return Trained("multitrain", model, spec, _fit(spec, paths, progress, max_epochs), ages)

    chosen = _select("multitrain", cfg, train_one)
    _, held = tuple_loaders(cfg, cache, "pretext_train", "heldout", max(1, tc.batch_size // cfg.tuple_len))
    logits, labels, order_ages, grey = predict_order(chosen.model.order, task.order, held, cfg.device, cfg.amp)
    run, fields = _finish_regressor(chosen, cfg, paths, data)
    write_result(paths.results_dir, "multitrain", fresh=True, **fields,
                 pretext_heldout=order_metrics(logits, labels, perms.numpy(), order_ages, grey=grey),
                 share_encoder=cfg.share_encoder, multitrain_lambda=cfg.multitrain_lambda)
    return run
