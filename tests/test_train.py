"""The one training loop: learns, warms up, stops early, resumes exactly, rejects corrupt checkpoints."""
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from facelib.checkpoints import CheckpointError, load_checkpoint
from facelib.config import Config, TrainConfig
from facelib.study.run import Loaders, RunSpec
from facelib.study.tasks import OrderTask, RegressionTask
from facelib.study.train import fit, train_step, warmup_cosine


def _spec(model, task, train, val, groups, tc, run_dir, seed=0) -> RunSpec:
    """A run of `model` on CPU, under no key of its own."""
    return RunSpec("run", model, task, Loaders(train, val), groups, tc, Config(seed=seed, device="cpu"), {}, run_dir)


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


def _fit(tmp_path, epochs=6, patience=10, warmup=1, max_epochs=None, lr=0.05, model=None, seed=0, keep="best"):
    torch.manual_seed(123)
    model = model or Linear()
    train = DataLoader(_data(), batch_size=32, shuffle=True)
    val = DataLoader(_data(64, seed=1), batch_size=64)
    tc = TrainConfig(epochs=epochs, lr=lr, warmup_epochs=warmup, patience=patience, keep=keep)
    groups = [{"params": model.backbone.parameters(), "lr": lr * 0.5, "name": "backbone"},
              {"params": model.head.parameters(), "lr": lr, "name": "head"}]
    res = fit(_spec(model, RegressionTask("l1"), train, val, groups, tc, tmp_path / "run", seed), progress=False,
              max_epochs=max_epochs)
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


def test_the_budget_behind_the_kept_weights_is_not_the_budget_seen(tmp_path):
    """Patience shorter than the epochs: the run stops at epoch 7 and keeps epoch 1's weights, so the
    kept epoch, images and steps are those of epoch 1, not of the 7 epochs seen."""
    from facelib.study.provenance import kept_budget
    from facelib.reporting.results import budget_table
    _, res = _fit(tmp_path, epochs=20, patience=2, warmup=5, lr=0.0)
    assert res.budget["epochs"] == 7 and res.budget["images"] == 7 * 256 and res.budget["steps"] == 7 * 8
    kept = kept_budget(res.budget["images"], res.budget["steps"], res.budget["epochs"], res.kept_epoch + 1)
    assert kept == {"kept_epoch": 1, "images_kept": 256, "steps_kept": 8}
    record = {"budget": {"images_seen": res.budget["images"], "epochs": 7, "steps": res.budget["steps"],
                         "seconds": 1.0, **kept}}
    row = budget_table({0: {"vcop": record}})["vcop"]
    assert (row["epochs"], row["kept_epoch"], row["images_seen"], row["images_kept"]) == (7, 1, 1792, 256)
    # a record written before the budget carried what was kept: the same, from its best epoch
    old = {"budget": {k: v for k, v in record["budget"].items() if k in ("images_seen", "epochs", "steps", "seconds")},
           "best_epoch": 1}
    assert budget_table({0: {"vcop": old}})["vcop"]["images_kept"] == 256


def test_keep_last_ends_with_the_last_epochs_weights(tmp_path):
    model, res = _fit(tmp_path / "last", epochs=5, keep="last")
    assert res.kept_epoch == 4 and len(res.history) == 5
    last = load_checkpoint(tmp_path / "last" / "run" / "last.pt")["model"]
    assert all(torch.equal(v, last[k]) for k, v in model.state_dict().items())
    model, res = _fit(tmp_path / "best", epochs=5, lr=0.0)                 # lr 0: the first epoch is the best
    assert res.kept_epoch == res.best_epoch == 0
    with pytest.raises(ValueError, match="keep='first' is not one of"):
        from facelib.config import get_config
        get_config("smoke", **{"vcop.keep": "first"})


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


def test_heads_and_losses_stay_fp32_under_autocast():
    """bf16 rounds 66.7 to 66.5: the age head and the loss must not run in it."""
    from facelib.models import AgeRegressor, SimpleHead, make_backbone
    torch.manual_seed(0)
    bb, d = make_backbone("resnet_mini")
    m = AgeRegressor(bb, SimpleHead(d)).eval()
    with torch.no_grad():
        m.head[-1].bias.fill_(66.7)
        x = torch.randn(4, 3, 32, 32)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            feats = m.backbone(x)
            pred = m(x)
        assert feats.dtype == torch.bfloat16            # the backbone did run in bf16 ...
        assert pred.dtype == torch.float32               # ... the head did not
        torch.testing.assert_close(pred, m.head(feats.float()).squeeze(-1))
        loss, _ = RegressionTask("l1")(m, (x, torch.full((4,), 66.7)))
    assert loss.dtype == torch.float32


def test_predictions_are_clamped_to_plausible_ages_at_inference_only():
    from facelib.models import AgeRegressor, SimpleHead, make_backbone
    bb, d = make_backbone("resnet_mini")
    m = AgeRegressor(bb, SimpleHead(d))
    with torch.no_grad():
        m.head[-1].bias.fill_(-10.6)
        x = torch.randn(2, 3, 32, 32)
        assert (m.eval()(x) == 0).all()
        m.head[-1].bias.fill_(500.0)
        assert (m.eval()(x) == 120).all()
        assert (m.train()(x) > 120).all()                # training sees the raw output


def test_resume_with_workers_equals_uninterrupted(tiny_cache, tmp_path):
    """Order tuples are drawn in DataLoader workers: per-epoch seeds must reach them."""
    from facelib.config import get_config
    from facelib.data.loaders import tuple_loaders
    from facelib.models.build import build_order_model
    from facelib.data.augment import BatchAugment
    from facelib.data.datasets import permutations
    from facelib.data.cache import FaceCache
    cfg = get_config("smoke", num_workers=2, tuples_per_identity=3, min_age_gap=2, device="cpu")
    cache = FaceCache(tiny_cache[0], "aihub")

    def run(where, max_epochs=None):
        torch.manual_seed(0)
        model = build_order_model(cfg)
        tr, va = tuple_loaders(cfg, cache, "pretext_train", "pretext_val", 4)
        spec = RunSpec("run", model, OrderTask(permutations(4), augment=BatchAugment()), Loaders(tr, va),
                       [{"params": model.parameters(), "lr": 1e-3}], TrainConfig(epochs=3, warmup_epochs=0, patience=9),
                       cfg, {}, tmp_path / where)
        return fit(spec, progress=False, max_epochs=max_epochs)
    full = run("full")
    run("part", max_epochs=1)
    resumed = run("part")
    assert resumed.resumed_from == 1
    pd.testing.assert_frame_equal(resumed.history.drop(columns="seconds"), full.history.drop(columns="seconds"))


def test_a_task_that_maximises_keeps_its_highest_epoch(tmp_path):
    """Order tasks pick the epoch of the highest validation tau, not of the lowest loss."""
    class Scored(RegressionTask):
        monitor, mode = "score", "max"

        def __call__(self, model, batch):
            loss, stats = super().__call__(model, batch)
            return loss, {**stats, "score": -stats["mae"]}   # rises as the model learns

    torch.manual_seed(123)
    model = Linear()
    train, val = DataLoader(_data(), batch_size=32, shuffle=True), DataLoader(_data(64, seed=1), batch_size=64)
    res = fit(_spec(model, Scored("l1"), train, val, [{"params": model.parameters(), "lr": 0.05}],
                    TrainConfig(epochs=6, lr=0.05, warmup_epochs=1, patience=10), tmp_path / "run"), progress=False)
    h = res.history
    assert res.best_metric == pytest.approx(h["val_score"].max()) and res.best_epoch == int(h["val_score"].argmax())
    assert res.best_epoch > 0


def test_order_task_reports_kendall_tau_of_its_top1_order():
    from facelib.data.datasets import permutations
    perms = permutations(3)

    class Fixed(nn.Module):
        training = False

        def forward(self, x):
            logits = torch.full((2, 6), -5.0)
            logits[0, 0] = logits[1, 5] = 5.0      # predicts the identity order, then the reverse
            return {"logits": logits}

    _, stats = OrderTask(perms)(Fixed(), (torch.zeros(2, 3, 3, 4, 4), torch.tensor([0, 0]), torch.zeros(2, 3)))
    assert stats["acc"].item() == 0.5 and stats["tau"].item() == pytest.approx((1 + -1) / 2)
    assert OrderTask.monitor == "tau" and OrderTask.mode == "max"


@pytest.mark.parametrize("capability,dtype", [((7, 5), torch.float16), ((7, 0), torch.float16), ((6, 0), torch.float16),
                                              ((8, 0), torch.bfloat16), ((8, 9), torch.bfloat16),
                                              ((9, 0), torch.bfloat16)])
def test_mixed_precision_follows_the_gpus_hardware(monkeypatch, capability, dtype):
    """A T4 (7.5) says bf16 is "supported" through emulation: fit must use fp16 with a GradScaler there."""
    from facelib.runtime import amp_dtype
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert amp_dtype(torch.device("cuda")) == dtype
    assert amp_dtype(torch.device("cpu")) is None and amp_dtype("cpu") is None


def test_a_partial_run_is_not_finished_and_says_so(tmp_path):
    _, part = _fit(tmp_path, epochs=4, max_epochs=2)
    assert part.finished is False
    _, done = _fit(tmp_path, epochs=4)
    assert done.finished is True and done.resumed_from == 2


def test_micro_batches_give_the_gradients_of_the_whole_batch(tmp_path):
    """Chunks of a batch, their losses weighted by their share, add up to the whole batch's step."""
    from facelib.study.run import RunState

    def grads(micro):
        torch.manual_seed(0)
        model = Linear()
        x, y = _data(24).tensors
        spec = _spec(model, RegressionTask("l1"), None, None, [], TrainConfig(micro_batch=micro), tmp_path)
        train_step(spec, torch.amp.GradScaler("cuda", enabled=False), (x, y), RunState(), torch.device("cpu"))
        return [p.grad.clone() for p in model.parameters()]
    for a, b in zip(grads(0), grads(5)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_a_batch_out_of_gpu_memory_is_accumulated_in_halves(tmp_path, monkeypatch, capsys):
    """Where a batch cannot fit, fit accumulates gradients over chunks (same effective batch) instead
    of failing; the chunk size is kept for the rest of the run and in its checkpoint."""
    class Hungry(RegressionTask):
        def __call__(self, model, batch):
            if len(batch[0]) > 8:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
            return super().__call__(model, batch)

    torch.manual_seed(123)
    model = Linear()
    train, val = DataLoader(_data(), batch_size=32, shuffle=True), DataLoader(_data(64, seed=1), batch_size=8)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    res = fit(_spec(model, Hungry("l1"), train, val, [{"params": model.parameters(), "lr": 0.05}],
                    TrainConfig(epochs=2, lr=0.05, warmup_epochs=0, patience=10), tmp_path / "run"), progress=False)
    assert "accumulating gradients over chunks of 16" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "run" / "last.pt")["micro_batch"] == 8
    assert res.budget["images"] == 2 * 256 and res.history["val_mae"].iloc[-1] < res.history["val_mae"].iloc[0]
