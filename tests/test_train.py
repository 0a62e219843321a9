"""The one training loop: learns, warms up, stops early, resumes exactly, rejects corrupt checkpoints."""
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from facelib.config import TrainConfig
from facelib.train import CheckpointError, RegressionTask, fit, load_checkpoint, warmup_cosine


class Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone, self.head = nn.Linear(4, 8), nn.Linear(8, 1)
        nn.init.constant_(self.head.bias, 30.0)  # start at the mean, as the conditions do

    def forward(self, x):
        return self.head(torch.relu(self.backbone(x))).squeeze(-1)


def _data(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = 30 + 10 * x[:, 0] - 5 * x[:, 1]
    return TensorDataset(x, y)


def _fit(tmp_path, epochs=6, patience=10, warmup=1, max_epochs=None, lr=0.05, model=None, seed=0):
    torch.manual_seed(123)
    model = model or Linear()
    train = DataLoader(_data(), batch_size=32, shuffle=True)
    val = DataLoader(_data(64, seed=1), batch_size=64)
    tc = TrainConfig(epochs=epochs, lr=lr, warmup_epochs=warmup, patience=patience)
    groups = [{"params": model.backbone.parameters(), "lr": lr * 0.5, "name": "backbone"},
              {"params": model.head.parameters(), "lr": lr, "name": "head"}]
    res = fit(model, RegressionTask("l1"), train, val, param_groups=groups, train_cfg=tc, run_dir=tmp_path / "run",
              seed=seed, device="cpu", progress=False, max_epochs=max_epochs)
    return model, res


def test_fit_learns_and_keeps_history(tmp_path):
    model, res = _fit(tmp_path, epochs=8)
    h = res.history
    assert len(h) == 8
    assert h["val_mae"].iloc[-1] < 0.3 * h["val_mae"].iloc[0]
    assert h["val_mae"].min() < 3.0
    # parameter groups keep their own learning rates (ratio 0.5)
    live = h[h["lr_head"] > 0]
    assert len(live) >= 7 and (live["lr_backbone"] / live["lr_head"]).round(6).eq(0.5).all()
    saved = pd.read_csv(tmp_path / "run" / "history.csv")
    assert list(saved["epoch"]) == list(range(1, 9))
    # the model ends holding its best weights
    assert res.best_metric == pytest.approx(h["val_mae"].min())


def test_warmup_then_cosine():
    f = warmup_cosine(10, 110)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.5) and f(109) < 0.01


def test_early_stopping_waits_out_warmup(tmp_path):
    # lr 0: nothing improves after the first epoch
    _, res = _fit(tmp_path, epochs=20, patience=2, warmup=5, lr=0.0)
    assert res.stopped_early
    # epoch 1 sets the best; epochs 2-5 are warmup (not counted); 6 and 7 use up the patience
    assert len(res.history) == 7


def test_resume_equals_uninterrupted(tmp_path):
    _, full = _fit(tmp_path / "a", epochs=6)
    _, part = _fit(tmp_path / "b", epochs=6, max_epochs=2)
    assert len(part.history) == 2
    ckpt = load_checkpoint(tmp_path / "b" / "run" / "last.pt")
    assert ckpt["epoch"] == 1 and not ckpt["finished"]
    _, resumed = _fit(tmp_path / "b", epochs=6)
    assert resumed.resumed_from == 2
    pd.testing.assert_series_equal(resumed.history["val_mae"], full.history["val_mae"], atol=1e-6, rtol=0)
    # a finished run is not trained again
    _, again = _fit(tmp_path / "b", epochs=6)
    assert again.resumed_from == 6 and len(again.history) == 6


def test_corrupt_checkpoint_is_reported(tmp_path):
    _fit(tmp_path, epochs=1)
    last = tmp_path / "run" / "last.pt"
    last.write_bytes(last.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="last.pt: checkpoint cannot be read"):
        _fit(tmp_path, epochs=2)
