"""Frozen-encoder probes: an encoder trained with `fit` carries age that a probe reads off its frozen
features, far better than off the same architecture's random weights; settings chosen on validation."""
import numpy as np
import pytest

from facelib.config import Config, SynthConfig, TrainConfig
from facelib.data.cache import FaceCache
from facelib.data.loaders import face_loaders
from facelib.data.prepare import prepare
from facelib.data.synth import synthesize
from facelib.models.build import build_regressor
from facelib.runtime import seed_everything
from facelib.study.probes import PROBES, features, fit_probe
from facelib.study.run import Loaders, RunSpec
from facelib.study.tasks import RegressionTask
from facelib.study.train import fit


def test_fit_probe_chooses_its_setting_on_validation_not_on_the_training_faces():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8))
    y = 30 + 10 * x[:, 0] + rng.normal(0, 1, 300)
    train, val = (x[:200], y[:200]), (x[200:], y[200:])
    probe, scaler, chosen = fit_probe("knn", train, val)
    assert chosen["n_neighbors"] == min(chosen["val_mae_by_setting"], key=chosen["val_mae_by_setting"].get)
    assert chosen["n_neighbors"] > 1          # one neighbour is best on the training faces, not on validation
    _, _, ridge = fit_probe("linear", train, val)
    assert set(ridge["val_mae_by_setting"]) == set(PROBES["linear"][2])


@pytest.mark.slow
def test_a_probe_reads_age_off_an_encoder_trained_with_fit_far_better_than_off_random_weights(tmp_path):
    synthesize(tmp_path / "data", SynthConfig(utk_faces=600, megaage_train=0, megaage_test=0, aaf_faces=0,
                                              aihub_people=0, quirks=False), seed=0, workers=1, progress=False)
    prepare(tmp_path / "data", tmp_path / "cache", image_size=32, progress=False, workers=1,
            datasets=("utkface",))
    cache = FaceCache(tmp_path / "cache", "utkface")
    cfg = Config(preset="smoke", image_size=32, device="cpu")
    tc = TrainConfig(epochs=8, batch_size=32, lr=2e-3, warmup_epochs=1, patience=8)
    tr, va, _ = face_loaders(cfg, cache, "train", "val", tc.batch_size)
    seed_everything(0)
    random = build_regressor(cfg)
    seed_everything(0)
    trained = build_regressor(cfg)
    fit(RunSpec("encoder", trained, RegressionTask("l1"), Loaders(tr, va), trained.param_groups(tc.lr, 1.0), tc, cfg,
                {}, tmp_path / "run"), progress=False)
    maes = {}
    for name, model in (("random", random), ("trained", trained)):
        train, val, test = (features(model.backbone, cfg, cache, s) for s in ("train", "val", "test"))
        for kind in PROBES:
            probe, scaler, _ = fit_probe(kind, train, val)
            maes[name, kind] = float(np.abs(probe.predict(scaler.transform(test[0])) - test[1]).mean())
    print("\nprobe test MAE: " + ", ".join(f"{k[1]} on {k[0]} weights {v:.2f}" for k, v in maes.items()))
    for kind in PROBES:   # the margin: at least 3 years of MAE better than random features
        assert maes["trained", kind] < maes["random", kind] - 3.0, maes
