"""One training loop for every condition: `fit(model, task, loaders, ...)`.

A condition is a model, a task (how a batch becomes a loss), parameter groups
and data. `fit` adds AdamW, warmup + cosine schedule, early stopping that waits
out the warmup, best-checkpoint saving, resume from the last checkpoint, seeds,
progress, a history CSV, optional TensorBoard, mixed precision (`amp_dtype`) and
channels_last on CUDA, and gradient accumulation where a batch does not fit.
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import losses as L
from .data.augment import is_greyscale, normalize_batch
from .models.heads import full_precision
from .models.order import scores_to_perm_logits


class CheckpointError(RuntimeError):
    """A checkpoint file exists but cannot be read (truncated or corrupt)."""


# ---------------------------------------------------------------- devices and seeds

def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def amp_dtype(device) -> torch.dtype | None:
    """The mixed precision of training and inference on `device`: bf16 where the GPU does it in
    hardware (compute capability 8.0 and later: A100, L4, H100), fp16 (with a GradScaler in `fit`)
    below that (T4, V100, P100), None on the CPU. `torch.cuda.is_bf16_supported()` is not used: it
    is True on a T4 too, through emulation, without tensor cores."""
    device = resolve_device(device) if isinstance(device, str) else device
    if device.type != "cuda":
        return None
    major, _ = torch.cuda.get_device_capability(device)
    return torch.bfloat16 if major >= 8 else torch.float16


def autocast(device: torch.device, enabled: bool):
    """Autocast at `amp_dtype(device)`; a no-op context on CPU or when disabled."""
    dtype = amp_dtype(device) if enabled else None
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=dtype)


def channels_last(model: nn.Module) -> nn.Module:
    """channels_last for the 2D convolutions only: `Module.to(memory_format=...)` raises on
    the 5D weights of r21d_original's 3D convolutions."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.to(memory_format=torch.channels_last)
    return model


def to_device(batch, device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, device) for b in batch)
    return batch


# ---------------------------------------------------------------- tasks

def model_input(x: torch.Tensor, augment=None, training: bool = False) -> torch.Tensor:
    """uint8 images → normalised floats, augmented per image when training; float
    inputs pass through unchanged."""
    if x.dtype != torch.uint8:
        return x
    return augment(x) if training and augment is not None else normalize_batch(x)


class RegressionTask:
    """batch (x, age) → loss; reports loss and MAE. `augment` runs on each training batch."""
    monitor = "mae"

    def __init__(self, loss: str = "l1", augment=None):
        self.loss_name, self.loss_fn, self.augment = loss, L.AGE_LOSSES[loss], augment

    def __call__(self, model, batch):
        x, age = batch
        pred = model(model_input(x, self.augment, model.training)).float()
        with full_precision(pred):
            loss = self.loss_fn(pred, age.float())
        return loss, {"loss": loss.detach(), "mae": (pred.detach() - age).abs().mean()}


class OrderTask:
    """batch (tuples, label, ages) → permutation loss and/or pairwise ranking loss; reports top-1
    accuracy and Kendall tau of the top-1 order. The best epoch is the one of the highest
    validation tau: a pairwise loss keeps rising on unseen people (scores grow confident) while the
    orders still improve, so the loss would pick an early, worse epoch."""
    monitor, mode = "tau", "max"

    def __init__(self, perms: torch.Tensor, loss: str = "ce", temperature: float = 0.5, augment=None,
                 kendall_convention: str = "positions"):
        self.perms, self.augment = perms, augment
        self.loss_name = loss
        self.soft = L.SoftPermutationLoss(perms, temperature, kendall_convention) if loss == "soft" else None

    def logits(self, out):
        if "logits" in out:
            return out["logits"].float()
        return scores_to_perm_logits(out["scores"].float(), self.perms.to(out["scores"].device))

    def __call__(self, model, batch):
        x, label, ages = batch
        out = model(model_input(x, self.augment, model.training))
        loss = 0.0
        with full_precision(x):
            if "logits" in out:
                logits = out["logits"].float()
                if self.soft is not None:
                    loss = loss + self.soft.to(logits.device)(logits, label)
                else:
                    loss = loss + L.permutation_ce(logits, label)
            if "scores" in out:
                loss = loss + L.pairwise_ranking(out["scores"].float(), ages.float())
        pred = self.logits(out).argmax(1)
        perms = self.perms.to(pred.device)
        k, l = torch.triu_indices(perms.shape[1], perms.shape[1], 1, device=pred.device)
        p, t = perms[pred], perms[label]
        agree = torch.sign(p[:, l] - p[:, k]) == torch.sign(t[:, l] - t[:, k])
        tau = (2 * agree.float().mean(1) - 1).mean()
        return loss, {"loss": loss.detach(), "acc": (pred == label).float().mean(), "tau": tau}


class MultiTask:
    """batch ((x, age), (tuples, label, ages)) → λ·age loss + (1 − λ)·order loss.
    The model has `.order` (tuples → dict) and `.regressor` (x → ages)."""
    monitor = "mae"

    def __init__(self, order: OrderTask, regression: RegressionTask, lam: float):
        self.order, self.regression, self.lam = order, regression, lam

    def __call__(self, model, batch):
        age_batch, order_batch = batch
        lo, so = self.order(model.order, order_batch)
        la, sa = self.regression(model.regressor, age_batch)
        loss = self.lam * la + (1 - self.lam) * lo
        return loss, {"loss": loss.detach(), "age_loss": la.detach(), "order_loss": lo.detach(),
                      "mae": sa["mae"], "acc": so["acc"]}


def set_epoch(loader, epoch: int, epochs: int) -> None:
    """Tell a loader's dataset (both of a ZipLoader's) which epoch starts, where it has `set_epoch`
    (the age-gap curriculum of order tuples). Workers are not persistent, so they see it."""
    for ld in (loader.first, loader.second) if isinstance(loader, ZipLoader) else (loader,):
        ds = getattr(ld, "dataset", None)
        if hasattr(ds, "set_epoch"):
            ds.set_epoch(epoch, epochs)


class ZipLoader:
    """Iterate two loaders together for multitrain; the shorter one restarts, so an
    epoch is one pass over the first."""

    def __init__(self, first, second):
        self.first, self.second = first, second

    def __len__(self):
        return len(self.first)

    def __iter__(self):
        it2 = iter(self.second)
        for b1 in self.first:
            try:
                b2 = next(it2)
            except StopIteration:
                it2 = iter(self.second)
                b2 = next(it2)
            yield b1, b2


# ---------------------------------------------------------------- checkpoints

def save_atomic(obj, path) -> None:
    """torch.save to a temporary file, then rename: a kill never leaves a truncated file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path, map_location="cpu") -> dict:
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"{path}: checkpoint cannot be read ({type(e).__name__}: {e}); "
                              "delete it to start this run again") from e
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise CheckpointError(f"{path}: not a facelib checkpoint (expected a dict with 'model')")
    return ckpt


# ---------------------------------------------------------------- the loop

@dataclass
class FitResult:
    history: pd.DataFrame
    best_metric: float
    best_epoch: int
    best_path: Path
    stopped_early: bool
    resumed_from: int  # epochs already done when this call started (0: fresh)
    budget: dict       # images seen, optimizer steps, epochs and wall seconds, over all calls of this run
    key: dict          # the run key the weights were trained under (see `fit`)
    finished: bool = True  # every epoch ran, or early stopping ended it (False: cut short by max_epochs)
    kept_epoch: int = -1   # the epoch whose weights the model holds: best_epoch, or the last (keep="last")


def warmup_cosine(warmup_steps: int, total_steps: int):
    def factor(step):
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return factor


def fit(model: nn.Module, task, train_loader, val_loader, *, param_groups, train_cfg, run_dir,
        seed: int = 0, device="auto", amp: bool = True, monitor: str | None = None, mode: str | None = None,
        progress: bool = True, tensorboard_dir=None, config: dict | None = None, key: dict | None = None,
        resume: bool = True, max_epochs: int | None = None, label: str | None = None) -> FitResult:
    """Train `model` and leave it holding its best weights (by validation `monitor`), or, with
    `train_cfg.keep == "last"`, the weights of its last epoch.

    task: callable (model, batch) → (loss, {name: scalar}); its `monitor` is the default metric.
    param_groups: list of dicts for AdamW, each with "params" and "lr" (and an optional "name").
    train_cfg: a `TrainConfig` (epochs, lr, weight_decay, warmup_epochs, patience, steps_per_epoch,
        micro_batch).
    run_dir: where `last.pt`, `best.pt` and `history.csv` go. A run there whose key equals this
        one continues (or, finished, is not trained again); any other is discarded, saying why.
    key: what the run learns from (`provenance.run_key`); the seed and `train_cfg` are added.
        Runtime settings (device, workers, AMP, micro-batches) belong outside it.
    config: the full config, stored in the checkpoints to rebuild the model.
    max_epochs: stop after this many epochs in this call (the run stays resumable, not finished).
    label: the run's name in printed lines (default: the name of run_dir).
    """
    device = resolve_device(device) if isinstance(device, str) else device
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    label = label or run_dir.name
    monitor = monitor or task.monitor
    mode = mode or (getattr(task, "mode", "min") if monitor == task.monitor else "min")
    train_block = {k: v for k, v in asdict(train_cfg).items() if k != "micro_batch"}
    run_key = {**(key or {}), "train": train_block, "seed": seed}
    model.to(device)
    if device.type == "cuda":
        channels_last(model)

    steps = train_cfg.steps_per_epoch or len(train_loader)
    opt = torch.optim.AdamW(param_groups, weight_decay=train_cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, warmup_cosine(train_cfg.warmup_epochs * steps, train_cfg.epochs * steps))
    scaler = torch.amp.GradScaler("cuda", enabled=amp and amp_dtype(device) == torch.float16)
    state = _restore(run_dir, run_key, model, opt, sched, scaler, device, mode, monitor, resume, label)
    writer = _tensorboard(tensorboard_dir)
    resumed_from, epoch = state["epoch"], state["epoch"]
    while not state["finished"] and epoch < train_cfg.epochs:
        if max_epochs is not None and epoch - resumed_from >= max_epochs:
            break
        row = train_one_epoch(model, task, train_loader, opt, sched, scaler, device, amp, seed, epoch, steps,
                              train_cfg, state, f"{label} {epoch + 1}/{train_cfg.epochs}", progress)
        row.update({f"val_{k}": v for k, v in evaluate_task(model, task, val_loader, device, amp).items()})
        for g in opt.param_groups:
            row[f"lr_{g.get('name', 'group')}"] = g["lr"]
        improved = _end_epoch(row, state, model, monitor, mode, train_cfg, epoch, run_dir, config, run_key)
        _save_last(run_dir, model, opt, sched, scaler, state, run_key, config, epoch)
        _log(writer, row, epoch)
        print(f"[{label}] epoch {epoch + 1}/{train_cfg.epochs} "
              + " ".join(f"{k}={v:.4g}" for k, v in row.items() if k.startswith(("train_", "val_")))
              + f" ({row['seconds']:.1f}s)" + (" *" if improved else ""))
        epoch += 1
    if writer is not None:
        writer.close()
    best_path = run_dir / "best.pt"
    kept = len(state["history"]) - 1
    if train_cfg.keep == "best" and best_path.exists():
        model.load_state_dict(load_checkpoint(best_path, map_location=device)["model"])
        kept = state["best_epoch"]
    return FitResult(pd.DataFrame(state["history"]), state["best"], state["best_epoch"], best_path,
                     stopped_early=bool(state["stopped"] and epoch < train_cfg.epochs), resumed_from=resumed_from,
                     budget={**state["budget"], "epochs": len(state["history"])}, key=run_key,
                     finished=bool(state["finished"]), kept_epoch=kept)


def _restore(run_dir, run_key, model, opt, sched, scaler, device, mode, monitor, resume, label) -> dict:
    """The state a run starts from: that of `last.pt` when its key is this run's, else a fresh one."""
    from .provenance import key_changes
    state = {"epoch": 0, "best": math.inf if mode == "min" else -math.inf, "best_epoch": -1, "bad": 0,
             "history": [], "finished": False, "stopped": False, "micro_batch": 0,
             "budget": {"images": 0, "steps": 0, "seconds": 0.0}}
    last_path = run_dir / "last.pt"
    if resume and last_path.exists():
        ckpt = load_checkpoint(last_path, map_location=device)
        if ckpt.get("run_key") == run_key:
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            sched.load_state_dict(ckpt["scheduler"])
            scaler.load_state_dict(ckpt["scaler"])
            state.update(epoch=ckpt["epoch"] + 1, best=ckpt["best_metric"], best_epoch=ckpt["best_epoch"],
                         bad=ckpt["bad_epochs"], history=ckpt["history"], finished=ckpt["finished"],
                         stopped=ckpt["finished"], budget=ckpt["budget"], micro_batch=ckpt.get("micro_batch", 0))
            print(f"[{label}] {'finished' if state['finished'] else 'resuming'} after epoch {state['epoch']} "
                  f"(best {monitor} {state['best']:.4f} at epoch {state['best_epoch'] + 1}); same data, upstream "
                  "and settings")
            return state
        print(f"[{label}] retraining from scratch: {key_changes(ckpt.get('run_key'), run_key)}")
    (run_dir / "best.pt").unlink(missing_ok=True)  # a best.pt of another run must never be loaded
    return state


def train_one_epoch(model, task, loader, opt, sched, scaler, device, amp, seed, epoch, steps, train_cfg,
                    state, desc, progress) -> dict:
    """One epoch of optimizer steps; returns the history row's training part ("train_<stat>", "seconds")."""
    from tqdm.auto import tqdm
    seed_everything(seed * 100_003 + epoch)  # seeding per epoch makes a resumed run equal an uninterrupted one
    set_epoch(loader, epoch, train_cfg.epochs)
    t0 = time.time()
    model.train()
    sums, n = {}, 0
    bar = tqdm(total=steps, desc=desc, leave=False, disable=not progress)
    it = iter(loader)
    for step in range(steps):
        try:
            batch = next(it)
        except StopIteration:
            it = iter(loader)
            batch = next(it)
        batch = to_device(batch, device)
        opt.zero_grad(set_to_none=True)
        loss_value, stats = _step(model, task, batch, scaler, device, amp, train_cfg, state)
        if not math.isfinite(loss_value):
            raise FloatingPointError(f"[{desc.split()[0]}] loss became {loss_value} at epoch {epoch + 1}, "
                                     f"step {step + 1}; lower the learning rate")
        scaler.step(opt)
        scaler.update()
        sched.step()
        bs = _batch_size(batch)
        state["budget"]["images"] += bs
        state["budget"]["steps"] += 1
        for k, v in stats.items():
            sums[k] = sums.get(k, 0.0) + v * bs
        n += bs
        bar.update()
        bar.set_postfix(loss=f"{loss_value:.3f}")
    bar.close()
    seconds = time.time() - t0
    state["budget"]["seconds"] += seconds
    return {"epoch": epoch + 1, **{f"train_{k}": v / n for k, v in sums.items()}, "seconds": seconds}


def _step(model, task, batch, scaler, device, amp, train_cfg, state) -> tuple[float, dict]:
    """Forward and backward of one batch, in chunks of `micro_batch` items with their gradients
    added up (the same effective batch). On CUDA, a batch that runs out of memory is tried again in
    chunks half the size, and that size is kept for the rest of the run."""
    while True:
        size = state["micro_batch"] or train_cfg.micro_batch or _batch_size(batch)
        try:
            return _accumulate(model, task, batch, scaler, device, amp, size)
        except torch.cuda.OutOfMemoryError:
            if size <= 1:
                raise
            for p in model.parameters():
                p.grad = None
            torch.cuda.empty_cache()
            state["micro_batch"] = max(1, size // 2)
            print(f"out of GPU memory at {size} items per step: accumulating gradients over chunks of "
                  f"{state['micro_batch']} (same effective batch)")


def _accumulate(model, task, batch, scaler, device, amp, size) -> tuple[float, dict]:
    total = _batch_size(batch)
    chunks = list(_split_batch(batch, size)) if size < total else [batch]
    loss_sum, sums = 0.0, {}
    for chunk in chunks:
        share = _batch_size(chunk) / total
        with autocast(device, amp):
            loss, stats = task(model, chunk)
        scaler.scale(loss * share).backward()
        loss_sum += float(loss.detach()) * share
        for k, v in stats.items():
            sums[k] = sums.get(k, 0.0) + float(v) * share
    return loss_sum, sums


def _split_batch(batch, size):
    """Chunks of `size` items of a batch (tensors, or nested lists / tuples of them)."""
    total = _batch_size(batch)
    for start in range(0, total, size):
        yield _slice(batch, slice(start, start + size))


def _slice(batch, s):
    if isinstance(batch, torch.Tensor):
        return batch[s]
    return type(batch)(_slice(b, s) for b in batch)


def _end_epoch(row, state, model, monitor, mode, train_cfg, epoch, run_dir, config, run_key) -> bool:
    """Keep the best weights by the validation metric, count epochs without improvement (after the
    warmup), and decide whether the run has finished. Returns whether this epoch improved."""
    metric = f"val_{monitor}"
    if metric not in row:
        raise KeyError(f"monitor={monitor!r}: the task reports {sorted(row)}")
    value = row[metric]
    improved = value < state["best"] if mode == "min" else value > state["best"]
    if improved:
        state.update(best=value, best_epoch=epoch, bad=0)
        save_atomic({"model": model.state_dict(), "epoch": epoch, "metric": value, "config": config,
                     "run_key": run_key}, run_dir / "best.pt")
    elif epoch + 1 > train_cfg.warmup_epochs:
        state["bad"] += 1
    state["history"].append(row)
    state["stopped"] = state["bad"] >= train_cfg.patience
    state["finished"] = state["stopped"] or epoch + 1 == train_cfg.epochs
    return improved


def _save_last(run_dir, model, opt, sched, scaler, state, run_key, config, epoch) -> None:
    """`last.pt` (everything a resumed run needs) and `history.csv`, after every epoch."""
    save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                 "scaler": scaler.state_dict(), "epoch": epoch, "best_metric": state["best"],
                 "best_epoch": state["best_epoch"], "bad_epochs": state["bad"], "history": state["history"],
                 "finished": state["finished"], "run_key": run_key, "budget": state["budget"], "config": config,
                 "micro_batch": state["micro_batch"]}, run_dir / "last.pt")
    pd.DataFrame(state["history"]).to_csv(run_dir / "history.csv", index=False)


def _tensorboard(log_dir):
    if log_dir is None:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("tensorboard is not installed; no event files written")
        return None
    return SummaryWriter(log_dir=str(log_dir))


def _log(writer, row, epoch) -> None:
    if writer is None:
        return
    for k, v in row.items():
        if k != "epoch":
            writer.add_scalar(k.replace("_", "/", 1), v, epoch + 1)
    writer.flush()


def _batch_size(batch) -> int:
    while isinstance(batch, (list, tuple)):
        batch = batch[0]
    return int(batch.shape[0])


@torch.no_grad()
def evaluate_task(model, task, loader, device, amp=True) -> dict:
    """The task's statistics averaged over a loader, in eval mode."""
    model.eval()
    sums, n = {}, 0
    for batch in loader:
        batch = to_device(batch, device)
        with autocast(device, amp):
            _, stats = task(model, batch)
        bs = _batch_size(batch)
        for k, v in stats.items():
            sums[k] = sums.get(k, 0.0) + float(v) * bs
        n += bs
    return {k: v / n for k, v in sums.items()}


@torch.no_grad()
def predict(model, loader, device="auto", amp=True) -> tuple[np.ndarray, np.ndarray]:
    """(predictions, targets) of an age regressor over a loader of (x, age)."""
    device = resolve_device(device) if isinstance(device, str) else device
    model.to(device).eval()
    preds, ages = [], []
    for x, age in loader:
        with autocast(device, amp):
            preds.append(model(model_input(x.to(device))).float().cpu())
        ages.append(age)
    return torch.cat(preds).numpy(), torch.cat(ages).numpy()


@torch.no_grad()
def predict_order(model, task: OrderTask, loader, device="auto", amp=True):
    """(logits over permutations, labels, ages in shown order, greyscale flags in shown order) of an
    order model; the flags say which photos have no colour (`is_greyscale`)."""
    device = resolve_device(device) if isinstance(device, str) else device
    model.to(device).eval()
    logits, labels, ages, grey = [], [], [], []
    for x, label, age in loader:
        with autocast(device, amp):
            logits.append(task.logits(model(model_input(x.to(device)))).float().cpu())
        labels.append(label)
        ages.append(age)
        grey.append(is_greyscale(x))
    return (torch.cat(logits).numpy(), torch.cat(labels).numpy(), torch.cat(ages).numpy(),
            torch.cat(grey).numpy())
