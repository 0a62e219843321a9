"""One training loop for every run: `fit(spec)`.

A run is a `RunSpec` (`run.py`): a model, a task (how a batch becomes a loss), parameter groups,
data, settings, where it goes and what it learns from. `fit` adds AdamW, warmup + cosine schedule,
early stopping that waits out the warmup, the best (or last) epoch kept, resume from the last
checkpoint, seeds, progress, a history CSV, optional TensorBoard, mixed precision (`amp_dtype`)
and channels_last on CUDA, and gradient accumulation where a batch does not fit. Its phases are
functions of the spec and the run's state, read top to bottom: `_restore`, `train_one_epoch`,
`_end_epoch`, `_save_last`.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..checkpoints import load_checkpoint, save_atomic
from ..data.augment import is_greyscale
from ..runtime import (
    amp_dtype,
    autocast,
    channels_last,
    resolve_device,
    seed_everything,
    to_device,
)
from .provenance import key_changes
from .run import Optimization, RunSpec, RunState
from .tasks import OrderTask, model_input, set_epoch


@dataclass
class FitResult:
    history: pd.DataFrame
    best_metric: float
    best_epoch: int
    best_path: Path
    stopped_early: bool
    resumed_from: int  # epochs already done when this call started (0: fresh)
    budget: dict       # images seen, optimizer steps, epochs and wall seconds, over all calls of this run
    key: dict          # the run key the weights were trained under (`RunSpec.full_key`)
    finished: bool = True  # every epoch ran, or early stopping ended it (False: cut short by max_epochs)
    kept_epoch: int = -1   # the epoch whose weights the model holds: best_epoch, or the last (keep="last")


def warmup_cosine(warmup_steps: int, total_steps: int):
    def factor(step):
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return factor


def fit(spec: RunSpec, progress: bool = True, max_epochs: int | None = None, resume: bool = True) -> FitResult:
    """Train `spec.model` and leave it holding its best weights (by the task's validation metric),
    or, with `spec.train.keep == "last"`, the weights of its last epoch.

    A run in `spec.run_dir` whose key equals this one continues (or, finished, is not trained again);
    any other is discarded, saying why. max_epochs: stop after this many epochs in this call (the run
    stays resumable, not finished)."""
    device = resolve_device(spec.cfg.device)
    spec.run_dir.mkdir(parents=True, exist_ok=True)
    spec.model.to(device)
    if device.type == "cuda":
        channels_last(spec.model)
    opt = torch.optim.AdamW(spec.param_groups, weight_decay=spec.train.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, warmup_cosine(spec.train.warmup_epochs * spec.steps, spec.train.epochs * spec.steps))
    scaler = torch.amp.GradScaler("cuda", enabled=spec.cfg.amp and amp_dtype(device) == torch.float16)
    optimization = Optimization(opt, sched, scaler)
    state = _restore(spec, optimization, device, resume)
    writer = _tensorboard(spec.tensorboard_dir)
    resumed_from = state.epoch
    while not state.finished and state.epoch < spec.train.epochs:
        if max_epochs is not None and state.epoch - resumed_from >= max_epochs:
            break
        epoch = state.epoch
        row = train_one_epoch(spec, optimization, state, device, progress)
        row.update({f"val_{k}": v for k, v in evaluate_task(spec.model, spec.task, spec.loaders.val, device,
                                                            spec.cfg.amp).items()})
        for g in opt.param_groups:
            row[f"lr_{g.get('name', 'group')}"] = g["lr"]
        improved = _end_epoch(spec, state, row, epoch)
        state.epoch = epoch + 1
        _save_last(spec, optimization, state)
        _log(writer, row, epoch)
        print(f"[{spec.name}] epoch {epoch + 1}/{spec.train.epochs} "
              + " ".join(f"{k}={v:.4g}" for k, v in row.items() if k.startswith(("train_", "val_")))
              + f" ({row['seconds']:.1f}s)" + (" *" if improved else ""))
    if writer is not None:
        writer.close()
    best_path = spec.run_dir / "best.pt"
    kept = len(state.history) - 1
    if spec.train.keep == "best" and best_path.exists():
        spec.model.load_state_dict(load_checkpoint(best_path, map_location=device)["model"])
        kept = state.best_epoch
    return FitResult(pd.DataFrame(state.history), state.best, state.best_epoch, best_path,
                     stopped_early=bool(state.stopped and state.epoch < spec.train.epochs),
                     resumed_from=resumed_from, budget={**state.budget, "epochs": len(state.history)},
                     key=spec.full_key, finished=bool(state.finished), kept_epoch=kept)


def _restore(spec: RunSpec, optimization: Optimization, device, resume: bool) -> RunState:
    """The state a run starts from: that of `last.pt` when its key is this run's, else a fresh one."""
    last_path = spec.run_dir / "last.pt"
    if resume and last_path.exists():
        ckpt = load_checkpoint(last_path, map_location=device)
        if ckpt.get("run_key") == spec.full_key:
            spec.model.load_state_dict(ckpt["model"])
            optimization.load_state_dict(ckpt)
            state = RunState.from_checkpoint(ckpt)
            print(f"[{spec.name}] {'finished' if state.finished else 'resuming'} after epoch {state.epoch} "
                  f"(best {spec.monitor} {state.best:.4f} at epoch {state.best_epoch + 1}); same data, upstream "
                  "and settings")
            return state
        print(f"[{spec.name}] retraining from scratch: {key_changes(ckpt.get('run_key'), spec.full_key)}")
    (spec.run_dir / "best.pt").unlink(missing_ok=True)  # a best.pt of another run must never be loaded
    return RunState.fresh(spec.mode)


def train_one_epoch(spec: RunSpec, optimization: Optimization, state: RunState, device, progress: bool) -> dict:
    """One epoch of optimizer steps; returns the history row's training part ("train_<stat>", "seconds")."""
    epoch = state.epoch
    seed_everything(spec.cfg.seed * 100_003 + epoch)  # seeding per epoch makes a resumed run equal an uninterrupted one
    set_epoch(spec.loaders.train, epoch, spec.train.epochs)
    t0 = time.time()
    spec.model.train()
    sums, n = {}, 0
    bar = tqdm(total=spec.steps, desc=f"{spec.name} {epoch + 1}/{spec.train.epochs}", leave=False,
               disable=not progress)
    it = iter(spec.loaders.train)
    for step in range(spec.steps):
        try:
            batch = next(it)
        except StopIteration:
            it = iter(spec.loaders.train)
            batch = next(it)
        batch = to_device(batch, device)
        optimization.optimizer.zero_grad(set_to_none=True)
        loss_value, stats = train_step(spec, optimization.scaler, batch, state, device)
        if not math.isfinite(loss_value):
            raise FloatingPointError(f"[{spec.name}] loss became {loss_value} at epoch {epoch + 1}, "
                                     f"step {step + 1}; lower the learning rate")
        optimization.scaler.step(optimization.optimizer)
        optimization.scaler.update()
        optimization.scheduler.step()
        bs = _batch_size(batch)
        state.budget["images"] += bs
        state.budget["steps"] += 1
        for k, v in stats.items():
            sums[k] = sums.get(k, 0.0) + v * bs
        n += bs
        bar.update()
        bar.set_postfix(loss=f"{loss_value:.3f}")
    bar.close()
    seconds = time.time() - t0
    state.budget["seconds"] += seconds
    return {"epoch": epoch + 1, **{f"train_{k}": v / n for k, v in sums.items()}, "seconds": seconds}


def train_step(spec: RunSpec, scaler, batch, state: RunState, device) -> tuple[float, dict]:
    """Forward and backward of one batch (what `doctor` and `bench` time), in chunks of `micro_batch` items with their gradients
    added up (the same effective batch). On CUDA, a batch that runs out of memory is tried again in
    chunks half the size, and that size is kept for the rest of the run."""
    while True:
        size = state.micro_batch or spec.train.micro_batch or _batch_size(batch)
        try:
            return _accumulate(spec, scaler, batch, size, device)
        except torch.cuda.OutOfMemoryError:
            if size <= 1:
                raise
            for p in spec.model.parameters():
                p.grad = None
            torch.cuda.empty_cache()
            state.micro_batch = max(1, size // 2)
            print(f"out of GPU memory at {size} items per step: accumulating gradients over chunks of "
                  f"{state.micro_batch} (same effective batch)")


def _accumulate(spec: RunSpec, scaler, batch, size: int, device) -> tuple[float, dict]:
    total = _batch_size(batch)
    chunks = list(_split_batch(batch, size)) if size < total else [batch]
    loss_sum, sums = 0.0, {}
    for chunk in chunks:
        share = _batch_size(chunk) / total
        with autocast(device, spec.cfg.amp):
            loss, stats = spec.task(spec.model, chunk)
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


def _end_epoch(spec: RunSpec, state: RunState, row: dict, epoch: int) -> bool:
    """Keep the best weights by the validation metric, count epochs without improvement (after the
    warmup), and decide whether the run has finished. Returns whether this epoch improved."""
    metric = f"val_{spec.monitor}"
    if metric not in row:
        raise KeyError(f"monitor={spec.monitor!r}: the task reports {sorted(row)}")
    value = row[metric]
    improved = value < state.best if spec.mode == "min" else value > state.best
    if improved:
        state.best, state.best_epoch, state.bad = value, epoch, 0
        save_atomic({"model": spec.model.state_dict(), "epoch": epoch, "metric": value, "config": spec.cfg.to_dict(),
                     "run_key": spec.full_key}, spec.run_dir / "best.pt")
    elif epoch + 1 > spec.train.warmup_epochs:
        state.bad += 1
    state.history.append(row)
    state.stopped = state.bad >= spec.train.patience
    state.finished = state.stopped or epoch + 1 == spec.train.epochs
    return improved


def _save_last(spec: RunSpec, optimization: Optimization, state: RunState) -> None:
    """`last.pt` (everything a resumed run needs) and `history.csv`, after every epoch."""
    save_atomic(state.to_checkpoint(spec.model, optimization, spec.full_key, spec.cfg.to_dict()),
                spec.run_dir / "last.pt")
    pd.DataFrame(state.history).to_csv(spec.run_dir / "history.csv", index=False)


def _tensorboard(log_dir):
    if log_dir is None:
        return None
    try:
        from torch.utils.tensorboard import (
            SummaryWriter,  # optional: tensorboard may be absent
        )
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
def predict_ages(model, loader, device="auto", amp=True) -> tuple[np.ndarray, np.ndarray]:
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
