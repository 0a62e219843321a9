"""Every loss of the study, in one place."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def l1(pred, age):
    return F.l1_loss(pred, age)


def mse(pred, age):
    return F.mse_loss(pred, age)


def weighted_l1(pred, age, threshold: float = 60.0, weight: float = 3.0):
    """The original's age-weighted L1: errors on faces aged >= 60 count 3 times."""
    w = torch.where(age >= threshold, torch.full_like(age, weight), torch.ones_like(age))
    return (w * (pred - age).abs()).sum() / w.sum()


AGE_LOSSES = {"l1": l1, "mse": mse, "weighted_l1": weighted_l1}


KENDALL_CONVENTIONS = ("positions", "items")


def kendall_distance_table(perms: torch.Tensor, convention: str = "positions") -> torch.Tensor:
    """(P, P) Kendall distance between every two permutations (rows of `perms`: perm[k] = age rank of
    the photo shown at position k).

    "positions" (facelib's): pairs of positions k < l whose ranks are ordered differently, the
        count behind the Kendall tau that facelib and the original both report.
    "items" (the original prototype's): pairs of ranks (items) whose positions are ordered
        differently, i.e. "positions" applied to the inverse permutations.
    At T = 3 they differ, e.g. for (0, 2, 1) against (1, 2, 0): 1 by positions, 3 by items.
    """
    if convention not in KENDALL_CONVENTIONS:
        raise ValueError(f"kendall_convention={convention!r} is not one of {', '.join(map(repr, KENDALL_CONVENTIONS))}")
    if convention == "items":
        perms = torch.argsort(perms, dim=1)
    t = perms.shape[1]
    k, l = torch.triu_indices(t, t, 1)
    s = torch.sign(perms[:, l] - perms[:, k])          # (P, pairs)
    return ((s[:, None, :] * s[None, :, :]) < 0).sum(-1).float()


class SoftPermutationLoss(nn.Module):
    """A soft-permutation loss: the target is softmax(−Kendall distance / temperature) over all
    permutations, the loss KL(target ‖ softmax(logits)). As in the original prototype, whose
    temperature (0.5) is the default; its distance is `kendall_convention="items"`, facelib's default
    is "positions" (see `kendall_distance_table`). Targets come from a precomputed T! × T! table:
    one gather per batch, no per-sample loop."""

    def __init__(self, perms: torch.Tensor, temperature: float = 0.5, kendall_convention: str = "positions"):
        super().__init__()
        table = kendall_distance_table(perms, kendall_convention)
        self.register_buffer("targets", torch.softmax(-table / temperature, dim=1))

    def forward(self, logits, label):
        return F.kl_div(F.log_softmax(logits, dim=1), self.targets[label], reduction="batchmean")


def permutation_ce(logits, label):
    return F.cross_entropy(logits, label)


def pairwise_ranking(scores, ages):
    """Logistic ranking loss: for every pair of photos with different ages, the older
    one should score higher. scores, ages: (B, T)."""
    diff = scores[:, :, None] - scores[:, None, :]          # s_i - s_j
    older = (ages[:, :, None] > ages[:, None, :]).float()   # i older than j
    return (F.softplus(-diff) * older).sum() / older.sum().clamp_min(1)
