"""How a batch becomes a loss: age regression, the order task, both at once (multitrain), and the
paired loader that feeds the last."""
from __future__ import annotations

import torch

from ..data.augment import normalize_batch
from ..models.heads import full_precision
from ..models.order import scores_to_perm_logits
from . import losses as L


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
