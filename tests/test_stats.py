"""Intervals over trained models: calibrated on simulated studies, against cases whose answer is known."""
import numpy as np
import pytest
from scipy import stats as sps

from facelib.stats import MIN_SEEDS, NO_DIFFERENCE, compare, mae_ci, mean_interval, verdict


def _study(rng, shift=0.0, seeds=5, faces=600, seed_sd=0.5):
    """Two arms on the same test faces: each face has a difficulty, each trained model its own
    per-face noise and a per-seed offset (what training the recipe again changes)."""
    difficulty = np.abs(rng.normal(0, 6, faces))

    def arm(offset):
        return np.abs(difficulty + rng.normal(0, 2, (seeds, faces))) + rng.normal(0, seed_sd, (seeds, 1)) + offset
    return arm(shift), arm(0.0)


def test_identical_arms_with_seed_noise_claim_a_difference_in_about_5_percent_of_studies():
    rng = np.random.default_rng(0)
    claims = [compare("a", "b", *_study(rng))["verdict"] != NO_DIFFERENCE for _ in range(400)]
    rate = float(np.mean(claims))
    print(f"\nfalse-claim rate of identical arms, 5 seeds, seed sd 0.5 years: {rate:.3f} (400 studies)")
    assert 0.02 <= rate <= 0.09


def test_identical_arms_with_three_seeds_the_fewest_for_a_verdict_stay_near_5_percent():
    rng = np.random.default_rng(3)
    rate = float(np.mean([compare("a", "b", *_study(rng, seeds=3))["verdict"] != NO_DIFFERENCE for _ in range(1000)]))
    print(f"\nfalse-claim rate of identical arms, 3 seeds, seed sd 0.5 years: {rate:.3f} (1000 studies)")
    assert 0.03 <= rate <= 0.075


def test_a_person_level_null_is_held_by_the_clustered_face_variance():
    """Arm a is better for some people and worse for others, zero on average: with few seeds and a
    small seed spread the face part of the interval decides, and only clustering by person holds 5%."""
    rng = np.random.default_rng(4)
    people, photos, seeds = 60, 10, 3
    g = np.repeat(np.arange(people), photos)
    clustered, by_photo = [], []
    for _ in range(1000):
        base = np.abs(rng.normal(0, 6, people * photos))
        delta = rng.normal(0, 1.5, people)[g]

        def arm(extra):
            return (np.abs(base + rng.normal(0, 2, (seeds, people * photos))) + extra
                    + rng.normal(0, 0.2, (seeds, 1)))
        a, b = arm(delta), arm(0.0)
        clustered.append(compare("a", "b", a, b, groups=g)["verdict"] != NO_DIFFERENCE)
        by_photo.append(compare("a", "b", a, b)["verdict"] != NO_DIFFERENCE)
    print(f"\nperson-level null, 3 seeds: false claims {np.mean(clustered):.3f} clustered by person, "
          f"{np.mean(by_photo):.3f} with photos taken as independent (1000 studies)")
    assert 0.02 <= np.mean(clustered) <= 0.08 and np.mean(by_photo) > 0.09


def test_power_at_realistic_differences_is_printed_and_grows_with_the_difference():
    rng = np.random.default_rng(5)
    power = {d: float(np.mean([compare("a", "b", *_study(rng, shift=d))["verdict"] == "b better"
                               for _ in range(300)])) for d in (0.3, 0.5, 1.0)}
    print("\npower, 5 seeds, seed sd 0.5 years: " + ", ".join(f"{d} y: {p:.2f}" for d, p in power.items()))
    assert power[0.3] < power[0.5] < power[1.0] and power[0.3] > 0.05


def test_a_real_difference_of_one_and_a_half_years_is_found_in_most_studies():
    rng = np.random.default_rng(1)
    found = [compare("a", "b", *_study(rng, shift=1.5))["verdict"] == "b better" for _ in range(200)]
    print(f"\npower for a 1.5-year difference, 5 seeds: {np.mean(found):.3f}")
    assert np.mean(found) >= 0.8


def test_the_interval_is_the_t_interval_over_per_seed_differences_when_the_faces_add_nothing():
    # the per-face differences are constant within a seed: all the variance is between seeds
    per_seed = np.array([-0.13, -0.49, -0.07])
    d = per_seed[:, None] + np.zeros((3, 400))
    c = compare("a", "b", d + 5.0, np.full((3, 400), 5.0))
    half = sps.t.ppf(0.975, 2) * per_seed.std(ddof=1) / np.sqrt(3)
    assert c["mae_diff"] == pytest.approx(per_seed.mean())
    assert c["ci95"] == pytest.approx([per_seed.mean() - half, per_seed.mean() + half])
    assert c["verdict"] == NO_DIFFERENCE and c["seeds_a_better"] == 3
    # the README's old demo row: [-0.79, +0.33] at the seed level, as issue 17 computed it
    assert c["ci95"] == pytest.approx([-0.79, 0.33], abs=0.01)


def test_photos_of_one_person_are_resampled_together():
    rng = np.random.default_rng(2)
    people = np.repeat(np.arange(20), 30)                  # 20 people, 30 photos each
    person_effect = rng.normal(0, 3, 20)[people]           # a person is hard or easy for arm a
    a = np.abs(rng.normal(0, 4, (1, 600))) + person_effect
    b = np.abs(rng.normal(0, 4, (1, 600)))
    by_photo, by_person = mean_interval(a - b), mean_interval(a - b, groups=people)
    assert np.diff(by_person["ci95"])[0] > 2.5 * np.diff(by_photo["ci95"])[0]


def test_each_seed_on_its_own_people_takes_its_variance_from_the_seeds():
    # a list of per-seed arrays: each seed held out other people; the seed spread carries that variance
    rows = [np.full(n, v) for n, v in ((40, 1.0), (35, 2.0), (50, 3.0), (41, 2.5), (38, 1.5))]
    iv = mean_interval(rows)
    assert not iv["shared_faces"] and iv["mean"] == pytest.approx(2.0)
    half = sps.t.ppf(0.975, 4) * np.std([1.0, 2.0, 3.0, 2.5, 1.5], ddof=1) / np.sqrt(5)
    assert iv["ci95"] == pytest.approx([2.0 - half, 2.0 + half])
    with pytest.raises(ValueError, match="paired seed by seed"):
        compare("a", "b", rows, rows[:4])
    zero = [np.zeros_like(r) for r in rows]
    assert "each seed measured on its own faces" in compare("a", "b", rows, zero)["method"]
    assert "variance of the test faces" in compare("a", "b", np.ones((3, 5)), np.zeros((3, 5)))["method"]


def test_fewer_than_three_seeds_state_no_difference_and_say_why():
    rng = np.random.default_rng(3)
    a, b = _study(rng, shift=5.0, seeds=2)
    c = compare("a", "b", a, b)
    assert c["ci95"][0] > 0                                 # the interval alone would say "b better"
    assert c["verdict"] == NO_DIFFERENCE and "at least 3" in c["why"]
    assert verdict([0.5, 1.0], seeds=MIN_SEEDS - 1) == NO_DIFFERENCE
    assert verdict([0.5, 1.0]) == "b better" and verdict([-1.0, -0.5]) == "a better"
    one = compare("a", "b", a[:1], b[:1])                   # one seed: faces only, no verdict
    assert one["seeds"] == 1 and one["ci95"][0] < one["mae_diff"] < one["ci95"][1]


def test_mae_interval_covers_the_mean_and_widens_with_seed_spread():
    rng = np.random.default_rng(4)
    faces = np.abs(rng.normal(0, 5, 400))
    same, spread = np.stack([faces] * 3), np.stack([faces, faces + 2, faces + 4])
    lo, hi = mae_ci(same)
    assert lo < same.mean() < hi
    assert np.diff(mae_ci(spread))[0] > 5 * np.diff(mae_ci(same))[0]
