"""Shapes through every model."""
import math

import pytest
import torch

from facelib.config import get_config
from facelib.models.build import build_model
from facelib.models import (AgeRegressor, KoreanHead, R21DOriginal, R21DOrderModel, R21DRegressor, Shared2DOrderModel,
                            SimpleHead, make_backbone, scores_to_perm_logits)
from facelib.data.datasets import permutations


@pytest.mark.parametrize("name,dim", [("resnet_mini", 256), ("resnet18", 512), ("resnet50", 2048)])
def test_backbones(name, dim):
    bb, d = make_backbone(name)
    assert d == dim
    assert bb(torch.randn(2, 3, 32, 32)).shape == (2, dim)


def test_full_preset_starts_resnet50_from_imagenet_weights_in_the_torch_cache(tmp_path, monkeypatch):
    """The real loading code (torchvision's weights API), offline: the cache holds a marked state dict
    under torchvision's file name, so any other source would show in the weights."""
    from pathlib import Path

    from torchvision import models as tvm

    from facelib.models.build import build_regressor
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file",
                        lambda *a, **k: (_ for _ in ()).throw(AssertionError("tried to download")))
    state = tvm.resnet50().state_dict()
    state["conv1.weight"] = torch.full_like(state["conv1.weight"], 0.0123)
    url = tvm.ResNet50_Weights.IMAGENET1K_V2.url
    (tmp_path / "checkpoints").mkdir()
    torch.save(state, tmp_path / "checkpoints" / Path(url).name)
    cfg = get_config("full")
    assert cfg.imagenet_init and cfg.backbone == "resnet50"
    model = build_regressor(cfg)
    assert torch.all(model.backbone.net.conv1.weight == 0.0123)
    # input normalisation from the weights' own transforms: facelib's (x/255 - 0.5)/0.25 → ImageNet's
    x = torch.rand(1, 3, 8, 8)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    bb = model.backbone
    torch.testing.assert_close((x - 0.5) / 0.25 * bb.scale + bb.shift, (x - mean) / std)


def test_imagenet_weights_offline_say_what_to_do(tmp_path, monkeypatch):
    import urllib.error
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def offline(*a, **k):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(RuntimeError, match="could not be loaded.*resnet18-f37072fd.pth.*imagenet_init=False"):
        make_backbone("resnet18", imagenet=True)


def test_regressors_give_one_age_per_image():
    bb, d = make_backbone("resnet_mini")
    assert AgeRegressor(bb, SimpleHead(d))(torch.randn(3, 3, 32, 32)).shape == (3,)
    bb, d = make_backbone("resnet_mini")
    assert AgeRegressor(bb, KoreanHead(d))(torch.randn(3, 3, 32, 32)).shape == (3,)
    r = R21DRegressor(R21DOriginal(), 4)
    assert r(torch.randn(2, 3, 32, 32)).shape == (2,)
    assert r(torch.randn(2, 4, 3, 32, 32)).shape == (2,)


@pytest.mark.parametrize("t", [3, 4])
def test_order_models(t):
    bb, d = make_backbone("resnet_mini")
    x = torch.randn(2, t, 3, 32, 32)
    out = Shared2DOrderModel(bb, d, t, "both")(x)
    assert out["logits"].shape == (2, math.factorial(t)) and out["scores"].shape == (2, t)
    assert R21DOrderModel(t)(x)["logits"].shape == (2, math.factorial(t))


def test_eval_prediction_does_not_depend_on_the_batch():
    """BatchNorm uses running statistics at eval time (unlike the original)."""
    bb, d = make_backbone("resnet_mini")
    m = AgeRegressor(bb, KoreanHead(d)).eval()
    x = torch.randn(5, 3, 32, 32)
    torch.testing.assert_close(m(x)[:1], m(x[:1]))


def test_score_perm_logits_rank_the_true_order_first():
    perms = permutations(4)
    scores = torch.tensor([[0.3, 2.0, -1.0, 1.0]])  # shown photo k has age rank perm[k]
    logits = scores_to_perm_logits(scores * 10, perms)
    assert perms[logits.argmax()].tolist() == [1, 3, 0, 2]


@pytest.mark.parametrize("name", ["baseline", "korean_finetuned", "vcop", "vcop_downstream", "multitrain"])
@pytest.mark.parametrize("encoder", ["shared2d", "r21d_original"])
def test_build_model_by_name(name, encoder):
    cfg = get_config("smoke", encoder=encoder)
    m = build_model(name, cfg)
    x = torch.randn(2, 3, 32, 32)
    if name == "vcop":  # the shared2d default: one score per photo; the original: T! logits
        out = m(torch.randn(2, 4, 3, 32, 32))
        assert out["scores"].shape == (2, 4) if encoder == "shared2d" else out["logits"].shape == (2, 24)
    else:
        assert m.eval()(x).shape == (2,)


def test_channels_last_leaves_3d_convolutions_alone():
    from facelib.runtime import channels_last
    m = channels_last(R21DOrderModel(4))            # Module.to(memory_format=...) would raise here
    assert m(torch.randn(2, 4, 3, 32, 32))["logits"].shape == (2, 24)
    bb, _ = make_backbone("resnet_mini")
    channels_last(bb)
    assert bb.stem[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_the_original_design_layer_for_layer():
    from torch import nn

    from facelib.models.build import build_order_model
    from facelib.models.r21d import SpatioTemporalConv
    cfg = get_config("demo", encoder="r21d_original")
    m = build_order_model(cfg, cfg.encoder)
    assert 2.5e6 <= sum(p.numel() for p in m.parameters()) <= 2.6e6          # the original's 2.55 M at T = 4
    blocks = list(m.encoder.blocks)
    assert [b.temporal.out_channels for b in blocks] == [64, 128, 512]
    stem = blocks[0].spatial
    assert stem.kernel_size == (1, 7, 7) and stem.stride == (1, 2, 2)         # 7x7 stem, stride 2 ...
    assert all(b.spatial.stride == (1, 1, 1) for b in blocks[1:])             # ... the only downsampling
    for b in blocks:                                                            # BN + ReLU after the spatial
        assert isinstance(b, SpatioTemporalConv)                                # conv, nothing after the temporal
        assert [type(c) for c in b.children()] == [nn.Conv3d, nn.BatchNorm3d, nn.ReLU, nn.Conv3d]
    assert [type(c) for c in m.head] == [nn.Linear, nn.ReLU, nn.Linear]        # no dropout
    assert (m.head[0].in_features, m.head[0].out_features, m.head[2].out_features) == (512, 1024, 24)
    assert m(torch.randn(2, 4, 3, 32, 32))["logits"].shape == (2, 24)
