"""The shared2d order model: one 2D backbone per photo, a VCOP pairwise head and/or
a per-photo order-score head. The same backbone takes one photo downstream."""
from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from .heads import full_precision


class VCOPPairHead(nn.Module):
    """Features of each pair (i < j) concatenated, a shared FC, all pairs concatenated, T! logits."""

    def __init__(self, feat_dim: int, tuple_len: int, hidden: int = 256, dropout: float = 0.3):
        super().__init__()
        self.pairs = list(itertools.combinations(range(tuple_len), 2))
        self.pair_fc = nn.Sequential(nn.Linear(2 * feat_dim, hidden), nn.ReLU(inplace=True))
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden * len(self.pairs), math.factorial(tuple_len)))

    def forward(self, f):  # f: (B, T, D)
        i, j = zip(*self.pairs)
        pair = torch.cat([f[:, list(i)], f[:, list(j)]], dim=-1)  # (B, P, 2D)
        return self.out(self.pair_fc(pair).flatten(1))


class Shared2DOrderModel(nn.Module):
    """(B, T, 3, H, W) → {"logits": (B, T!)} and/or {"scores": (B, T)} (higher = older)."""

    def __init__(self, backbone: nn.Module, feat_dim: int, tuple_len: int = 4, head: str = "vcop"):
        super().__init__()
        self.backbone, self.T, self.head_kind = backbone, tuple_len, head
        self.vcop = VCOPPairHead(feat_dim, tuple_len) if head in ("vcop", "both") else None
        self.score = nn.Linear(feat_dim, 1) if head in ("score", "both") else None

    def features(self, x):
        b, t = x.shape[:2]
        return self.backbone(x.flatten(0, 1)).view(b, t, -1)

    def forward(self, x):
        f = self.features(x)
        out = {}
        with full_precision(f):
            f = f.float()
            if self.vcop is not None:
                out["logits"] = self.vcop(f)
            if self.score is not None:
                out["scores"] = self.score(f).squeeze(-1)
        return out


def scores_to_perm_logits(scores: torch.Tensor, perms: torch.Tensor) -> torch.Tensor:
    """Log-likelihood of every permutation under a pairwise (Bradley–Terry) model of the scores.

    scores (B, T), perms (P, T) with perms[p, k] = age rank of the photo shown at k.
    logit[b, p] = sum over k < l of log sigmoid((s_l - s_k) * sign(perms[p, l] - perms[p, k])).
    """
    t = scores.shape[1]
    k, l = torch.triu_indices(t, t, 1, device=scores.device)
    diff = scores[:, l] - scores[:, k]                                  # (B, P2)
    sign = torch.sign(perms[:, l] - perms[:, k]).to(scores.dtype)      # (P, P2)
    return nn.functional.logsigmoid(diff[:, None, :] * sign[None]).sum(-1)
