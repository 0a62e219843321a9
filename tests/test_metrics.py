"""Metrics against hand-computed values."""
import math

import numpy as np
import pytest

from facelib.data.datasets import permutations
from facelib.study.metrics import mean_predictor_metrics, order_metrics, regression_metrics


def test_regression_metrics_by_hand():
    true = np.array([5.0, 25.0, 45.0, 75.0])
    pred = np.array([7.0, 21.0, 45.0, 65.0])
    m = regression_metrics(pred, true)
    assert m["mae"] == pytest.approx((2 + 4 + 0 + 10) / 4)
    assert m["rmse"] == pytest.approx(math.sqrt((4 + 16 + 0 + 100) / 4))
    ss_tot = ((true - true.mean()) ** 2).sum()
    assert m["r2"] == pytest.approx(1 - 120 / ss_tot)
    assert m["ca3"] == 0.5 and m["ca5"] == 0.75 and m["n"] == 4
    assert m["mae_by_group"] == {"0-9": 2.0, "20-29": 4.0, "40-49": 0.0, "70+": 10.0}


def test_mean_predictor():
    m = mean_predictor_metrics([10, 30], [20, 40])
    assert m["predicts"] == 20 and m["mae"] == 10


def test_order_metrics_by_hand():
    perms = permutations(3).numpy()
    labels = np.array([0, 5])
    logits = np.zeros((2, 6))
    logits[0, [0, 1, 2]] = [3, 2, 1]     # sample 0: right at top-1
    logits[1, [0, 4, 5]] = [3, 2, 1]     # sample 1: reversed first, right at top-3
    ages = np.array([[10, 20, 30], [50, 40, 30]], float)
    m = order_metrics(logits, labels, perms, ages)
    assert m["top1"] == 0.5 and m["top3"] == 1.0 and m["exact_match"] == 0.5
    assert m["kendall_tau"] == pytest.approx((1 + -1) / 2)
    assert m["pairwise_acc"] == pytest.approx(3 / 6)
    assert m["chance_top1"] == pytest.approx(1 / 6) and m["chance_top3"] == 0.5
    assert m["pairwise_acc_by_gap"]["10-20"] == {"acc": 0.5, "n": 4}
    assert m["pairwise_acc_by_gap"]["20-40"] == {"acc": 0.5, "n": 2}
    # sample 0 (all pairs right) has one grey-grey pair and two mixed; sample 1 (all wrong) is all colour
    g = order_metrics(logits, labels, perms, ages, grey=np.array([[1, 1, 0], [0, 0, 0]], bool))
    assert g["pairwise_acc_same_colour"] == pytest.approx(1 / 4) and g["pairs_same_colour"] == 4
    assert g["pairwise_acc_mixed_colour"] == 1.0 and g["pairs_mixed_colour"] == 2
    none_mixed = order_metrics(logits, labels, perms, ages, grey=np.zeros((2, 3), bool))
    assert none_mixed["pairwise_acc_mixed_colour"] is None and none_mixed["pairs_mixed_colour"] == 0


def test_greyscale_photos_are_told_from_colour_ones():
    import torch
    from facelib.data.augment import is_greyscale
    rng = np.random.default_rng(0)
    grey = np.repeat(rng.integers(0, 256, (2, 1, 16, 16)), 3, axis=1)
    colour = rng.integers(0, 256, (2, 3, 16, 16))
    sepia = np.clip(grey + np.array([20, 8, -12]).reshape(1, 3, 1, 1), 0, 255)   # a toned print has colour
    x = torch.tensor(np.stack([grey, colour, sepia]), dtype=torch.uint8)      # (3, 2, 3, H, W)
    assert is_greyscale(x).tolist() == [[True, True], [False, False], [False, False]]
