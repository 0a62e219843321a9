"""Bootstrap intervals and verdicts, against cases whose answer is known."""
import numpy as np
import pytest

from facelib.stats import compare, mae_ci, paired_diff, verdict


def test_mae_interval_covers_the_mean_and_narrows_with_more_faces():
    rng = np.random.default_rng(0)
    small, large = np.abs(rng.normal(0, 5, (1, 50))), np.abs(rng.normal(0, 5, (1, 5000)))
    lo, hi = mae_ci(small)
    assert lo < small.mean() < hi
    lo2, hi2 = mae_ci(large)
    assert lo2 < large.mean() < hi2 and (hi2 - lo2) < (hi - lo) / 5


def test_seed_spread_widens_the_mae_interval():
    rng = np.random.default_rng(1)
    faces = np.abs(rng.normal(0, 5, 400))
    same = np.stack([faces, faces, faces])
    spread = np.stack([faces, faces + 2, faces + 4])    # seeds 0, 2 and 4 years apart
    assert np.diff(mae_ci(spread))[0] > 2 * np.diff(mae_ci(same))[0]


def test_paired_difference_and_verdicts():
    rng = np.random.default_rng(2)
    base = np.abs(rng.normal(0, 5, (2, 600)))
    better = base * 0.8                     # 20% lower on every face, in both seeds
    diff, ci = paired_diff(better, base)
    assert diff == pytest.approx(-0.2 * base.mean())
    assert ci[0] <= diff <= ci[1] < 0
    assert verdict(ci) == "a better" and verdict([-ci[1], -ci[0]]) == "b better"
    noise = base + rng.normal(0, 0.5, base.shape)   # no systematic difference
    c = compare("x", "y", np.abs(noise), base)
    assert c["ci95"][0] < 0 < c["ci95"][1] and c["verdict"] == "no difference shown"
    assert c["seeds"] == 2 and 0 <= c["seeds_a_better"] <= 2


def test_every_verdict_agrees_with_its_interval():
    for lo, hi in [(-2, -0.1), (0.1, 2), (-1, 1), (0, 1), (-1, 0)]:
        v = verdict([lo, hi])
        assert v == ("a better" if hi < 0 else "b better" if lo > 0 else "no difference shown")


def test_intervals_are_reproducible():
    e = np.abs(np.random.default_rng(3).normal(0, 5, (3, 200)))
    assert mae_ci(e) == mae_ci(e) and paired_diff(e, e[::-1]) == paired_diff(e, e[::-1])
