import os

import pytest
import torch

from facelib.config import SynthConfig, get_config
from facelib.data.prepare import prepare
from facelib.data.synth import synthesize
from facelib.paths import Paths, write_synthetic_marker

torch.set_num_threads(min(2, os.cpu_count() or 1))

TINY = SynthConfig(utk_faces=60, megaage_train=20, megaage_test=30, aaf_faces=20, aihub_people=12,
                   aihub_photos_per_person=14)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """Synthetic datasets in their real layouts (with every quirk), generated once per session."""
    root = tmp_path_factory.mktemp("synthetic")
    synthesize(root, TINY, seed=0, workers=1, progress=False)
    write_synthetic_marker(root, "smoke", 0)
    return root


@pytest.fixture(scope="session")
def tiny_cache(tiny_data, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    report = prepare(tiny_data, cache, image_size=32, progress=False)
    return cache, report


@pytest.fixture
def tiny_paths(tiny_data, tiny_cache, tmp_path):
    """Paths for running conditions on the tiny cache, with private weights and outputs."""
    return Paths(root=tmp_path, data_root=tiny_data, cache_dir=tiny_cache[0], weights_dir=tmp_path / "weights",
                 out_dir=tmp_path / "outputs", synthetic=True)


@pytest.fixture
def smoke_cfg():
    return get_config("smoke", tuples_per_identity=2, min_age_gap=2)


@pytest.fixture(scope="session")
def trained_paths(tiny_data, tiny_cache, tmp_path_factory):
    """Every condition and the control trained (smoke preset, 1 epoch) and tested once per session."""
    root = tmp_path_factory.mktemp("trained")
    paths = Paths(root=root, data_root=tiny_data, cache_dir=tiny_cache[0], weights_dir=root / "weights",
                  out_dir=root / "outputs", synthetic=True)
    train_every_run(get_config("smoke", tuples_per_identity=2, min_age_gap=2), paths)
    return paths


def train_every_run(cfg, paths, fixed_epoch_arm=False):
    """The pretext model, the four conditions and the controls (and the fixed-epoch arm), trained and tested."""
    from facelib.study import conditions as C
    for run in (C.baseline, C.korean_finetuned, C.vcop):
        run(cfg, paths, progress=False)
    if fixed_epoch_arm:
        C.vcop(cfg, paths, progress=False, fixed=True)
    C.condition_3_arms(cfg, paths, progress=False, fixed_epoch_arm=fixed_epoch_arm)
    C.multitrain(cfg, paths, progress=False)
    for name in ("baseline", "korean_finetuned", "multitrain"):
        C.evaluate_condition(name, paths)
