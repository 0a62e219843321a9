"""Every loss against a hand-computed value."""
import math

import pytest
import torch

from facelib.study import losses as L
from facelib.data.datasets import permutations


def soft_permutation_loop(logits, labels, perms, temperature=1.0):
    """A straightforward per-sample, per-permutation soft-permutation loss: the reference the
    vectorised one must equal."""
    import itertools
    total = 0.0
    for b in range(len(labels)):
        true = perms[labels[b]].tolist()
        dists = [sum(1 for i, j in itertools.combinations(range(len(p)), 2) if (p[i] - p[j]) * (true[i] - true[j]) < 0)
                 for p in perms.tolist()]
        target = torch.softmax(-torch.tensor(dists, dtype=torch.float) / temperature, 0)
        logp = torch.log_softmax(logits[b], 0)
        total += (target * (target.log() - logp)).sum()
    return total / len(labels)

def test_l1_mse_weighted():
    pred, age = torch.tensor([10.0, 50.0, 70.0]), torch.tensor([12.0, 45.0, 60.0])
    assert L.l1(pred, age).item() == pytest.approx((2 + 5 + 10) / 3)
    assert L.mse(pred, age).item() == pytest.approx((4 + 25 + 100) / 3)
    # the 60-year-old's error counts 3 times
    assert L.weighted_l1(pred, age).item() == pytest.approx((2 + 5 + 3 * 10) / 5)


def test_kendall_distance_table():
    perms = permutations(3)
    d = L.kendall_distance_table(perms)
    assert d.shape == (6, 6) and torch.all(d.diag() == 0)
    assert d[0, 5].item() == 3            # identity vs reversed: every pair discordant
    assert d[0, 1].item() == 1            # (0,1,2) vs (0,2,1)


def test_soft_permutation_matches_loop_and_hand_value():
    torch.manual_seed(0)
    perms = permutations(4)
    logits, labels = torch.randn(6, 24), torch.randint(0, 24, (6,))
    loss = L.SoftPermutationLoss(perms, temperature=0.7)(logits, labels)
    torch.testing.assert_close(loss, soft_permutation_loop(logits, labels, perms, 0.7))
    # T = 2, uniform logits: target = softmax([0, -1]) → KL to uniform by hand
    t = torch.softmax(torch.tensor([0.0, -1.0]), 0)
    expected = (t * (t.log() - math.log(0.5))).sum()
    got = L.SoftPermutationLoss(permutations(2), temperature=1.0)(torch.zeros(1, 2), torch.tensor([0]))
    torch.testing.assert_close(got, expected)


def test_permutation_ce():
    logits = torch.tensor([[2.0, 0.0]])
    assert math.isclose(L.permutation_ce(logits, torch.tensor([0])).item(), math.log(1 + math.exp(-2)), rel_tol=1e-6)


def test_pairwise_ranking():
    scores = torch.tensor([[1.0, 0.0]])
    ages = torch.tensor([[30.0, 10.0]])     # photo 0 is older and scores higher: small loss
    assert math.isclose(L.pairwise_ranking(scores, ages).item(), math.log(1 + math.exp(-1)), rel_tol=1e-6)
    assert math.isclose(L.pairwise_ranking(-scores, ages).item(), math.log(1 + math.exp(1)), rel_tol=1e-6)


def test_kendall_conventions_by_hand():
    perms = permutations(3)
    a, b = perms.tolist().index([0, 2, 1]), perms.tolist().index([1, 2, 0])
    # positions: only the pair of positions (0, 2) is ordered differently (0 < 1 against 1 > 0)
    assert L.kendall_distance_table(perms, "positions")[a, b].item() == 1
    # items: rank 0 sits at positions 0 and 2, rank 1 at 2 and 0, rank 2 at 1 and 1: all 3 pairs flip
    assert L.kendall_distance_table(perms, "items")[a, b].item() == 3
    # T = 4: the tables differ in 296 of 576 entries; "items" is "positions" on the inverse permutations
    p4 = permutations(4)
    pos, items = L.kendall_distance_table(p4, "positions"), L.kendall_distance_table(p4, "items")
    assert int((pos != items).sum()) == 296
    inverse = torch.argsort(p4, dim=1)
    order = [p4.tolist().index(r) for r in inverse.tolist()]
    assert torch.equal(items, pos[order][:, order])
    with pytest.raises(ValueError, match="kendall_convention='rows'"):
        L.kendall_distance_table(p4, "rows")


def test_soft_loss_conventions_give_their_own_values():
    perms = permutations(3)
    logits, label = torch.zeros(1, 6), torch.tensor([perms.tolist().index([0, 2, 1])])
    for conv in ("positions", "items"):
        t = torch.softmax(-L.kendall_distance_table(perms, conv)[label[0]] / 0.5, 0)
        expected = (t * (t.log() - math.log(1 / 6))).sum()
        torch.testing.assert_close(L.SoftPermutationLoss(perms, kendall_convention=conv)(logits, label), expected)
    assert L.SoftPermutationLoss(perms).targets.shape == (6, 6)
