"""Every loss against a hand-computed value."""
import math

import pytest
import torch

from facelib import losses as L
from facelib.bench import soft_permutation_loop
from facelib.data.datasets import permutations


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
    got = L.SoftPermutationLoss(permutations(2))(torch.zeros(1, 2), torch.tensor([0]))
    torch.testing.assert_close(got, expected)


def test_permutation_ce():
    logits = torch.tensor([[2.0, 0.0]])
    assert math.isclose(L.permutation_ce(logits, torch.tensor([0])).item(), math.log(1 + math.exp(-2)), rel_tol=1e-6)


def test_pairwise_ranking():
    scores = torch.tensor([[1.0, 0.0]])
    ages = torch.tensor([[30.0, 10.0]])     # photo 0 is older and scores higher: small loss
    assert math.isclose(L.pairwise_ranking(scores, ages).item(), math.log(1 + math.exp(-1)), rel_tol=1e-6)
    assert math.isclose(L.pairwise_ranking(-scores, ages).item(), math.log(1 + math.exp(1)), rel_tol=1e-6)
