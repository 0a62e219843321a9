"""A run as one object: what to train (`RunSpec`) and how far it has got (`RunState`).

A recipe (`conditions.py`) builds a `RunSpec`; `train.fit` trains it, keeping a `RunState` that it
writes to `last.pt` after every epoch and reads back to continue a stopped run."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..config import Config, TrainConfig


@dataclass
class Loaders:
    train: object       # a DataLoader (or ZipLoader) of training batches
    val: object         # the validation batches that choose the kept epoch


@dataclass
class RunSpec:
    """What to train, on what, under which settings, where, and under which key."""
    name: str                   # how printed lines and folders name the run ("vcop_downstream/lr0.1")
    model: nn.Module
    task: object                # (model, batch) → (loss, {stat: value}); its `monitor` (and `mode`) choose the epoch
    loaders: Loaders
    param_groups: list          # AdamW groups, each with "params", "lr" and an optional "name"
    train: TrainConfig          # epochs, lr, warmup, patience, steps per epoch, micro-batches, keep
    cfg: Config                 # seed, device and precision; stored in its checkpoints to rebuild the model
    key: dict                   # what the run learns from (`provenance.run_key`)
    run_dir: Path               # last.pt, best.pt, history.csv
    tensorboard_dir: Path | None = None

    @property
    def full_key(self) -> dict:
        """The run key checkpoints are kept under: `key`, the training block (its runtime settings
        aside) and the seed."""
        block = {k: v for k, v in asdict(self.train).items() if k != "micro_batch"}
        return {**self.key, "train": block, "seed": self.cfg.seed}

    @property
    def steps(self) -> int:
        """Optimizer steps per epoch: `steps_per_epoch`, else one pass over the training loader."""
        return self.train.steps_per_epoch or len(self.loaders.train)

    @property
    def monitor(self) -> str:
        return self.task.monitor

    @property
    def mode(self) -> str:
        return getattr(self.task, "mode", "min")


@dataclass
class Optimization:
    """A run's optimiser, learning-rate schedule and gradient scaler."""
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict()}

    def load_state_dict(self, ckpt: dict) -> None:
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])


@dataclass
class RunState:
    """How far a run has got: epochs done, its best validation metric and epoch, epochs without
    improvement, its history, whether it has finished, and what it has cost so far."""
    epoch: int = 0                      # epochs done
    best: float = math.inf
    best_epoch: int = -1
    bad: int = 0
    history: list = field(default_factory=list)
    finished: bool = False
    stopped: bool = False               # ended by early stopping
    micro_batch: int = 0                # chunk size kept after running out of GPU memory (0: whole batches)
    budget: dict = field(default_factory=lambda: {"images": 0, "steps": 0, "seconds": 0.0})

    @classmethod
    def fresh(cls, mode: str) -> "RunState":
        return cls(best=math.inf if mode == "min" else -math.inf)

    def to_checkpoint(self, model: nn.Module, optimization: Optimization, run_key: dict, config: dict) -> dict:
        """`last.pt`: everything a stopped run needs to continue as if it had not stopped."""
        return {"model": model.state_dict(), **optimization.state_dict(), "epoch": self.epoch - 1,
                "best_metric": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad,
                "history": self.history, "finished": self.finished, "run_key": run_key, "budget": self.budget,
                "config": config, "micro_batch": self.micro_batch}

    @classmethod
    def from_checkpoint(cls, ckpt: dict) -> "RunState":
        return cls(epoch=ckpt["epoch"] + 1, best=ckpt["best_metric"], best_epoch=ckpt["best_epoch"],
                   bad=ckpt["bad_epochs"], history=ckpt["history"], finished=ckpt["finished"],
                   stopped=ckpt["finished"], micro_batch=ckpt.get("micro_batch", 0), budget=ckpt["budget"])
