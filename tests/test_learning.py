"""Tests that fail when nothing learns: demo-size synthetic data, demo settings (fewer epochs).

A regressor whose head starts at the mean age scores the mean predictor's MAE without learning
anything, and an order model at chance scores top-1 1/24: both bounds below need real learning."""
from dataclasses import replace

import numpy as np
import pytest

from facelib.study import conditions as C
from facelib.config import get_config
from facelib.data.cache import FaceCache
from facelib.data.prepare import prepare
from facelib.data.synth import synthesize
from facelib.paths import Paths


@pytest.fixture(scope="module")
def demo_paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    sizes = replace(get_config("demo").synth, megaage_train=20, megaage_test=20)   # MegaAge is not used here
    synthesize(root / "data", sizes, seed=0, workers=2, progress=False)
    prepare(root / "data", root / "cache", get_config("demo").image_size, progress=False)
    return Paths(root=root, data_root=root / "data", cache_dir=root / "cache", weights_dir=root / "weights",
                 out_dir=root / "outputs", synthetic=True)


@pytest.mark.slow
def test_baseline_learns_well_below_the_mean_predictor(demo_paths):
    run = C.baseline(get_config("demo", **{"baseline.epochs": 6}), demo_paths, progress=False)
    val_ages = FaceCache(demo_paths.cache_dir, "utkface").split("val")["age"].to_numpy()
    mean_mae = float(np.abs(run.train_ages.mean() - val_ages).mean())
    print(f"\nbaseline validation MAE {run.val['mae']:.2f}, mean predictor {mean_mae:.2f}")
    assert run.val["mae"] < 0.6 * mean_mae


@pytest.mark.slow
def test_pretext_orders_unseen_people_far_above_chance(demo_paths):
    run = C.vcop(get_config("demo", **{"vcop.epochs": 10}), demo_paths, progress=False)
    print(f"\npretext top-1 {run.val['top1']:.3f} (chance {run.val['chance_top1']:.3f}), "
          f"Kendall tau {run.val['kendall_tau']:.2f}")
    assert run.val["top1"] > 3 * run.val["chance_top1"]
