"""Shapes through every model."""
import math

import pytest
import torch

from facelib.config import get_config
from facelib.conditions import build_model
from facelib.models import (AgeRegressor, KoreanHead, R21DMini, R21DOrderModel, R21DRegressor, Shared2DOrderModel,
                            SimpleHead, make_backbone, scores_to_perm_logits)
from facelib.data.datasets import permutations


@pytest.mark.parametrize("name,dim", [("resnet_mini", 256), ("resnet18", 512), ("resnet50", 2048)])
def test_backbones(name, dim):
    bb, d = make_backbone(name)
    assert d == dim
    assert bb(torch.randn(2, 3, 32, 32)).shape == (2, dim)


def test_imagenet_init_never_downloads(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError, match="not cached.*never downloads"):
        make_backbone("resnet18", imagenet=True)


def test_regressors_give_one_age_per_image():
    bb, d = make_backbone("resnet_mini")
    assert AgeRegressor(bb, SimpleHead(d))(torch.randn(3, 3, 32, 32)).shape == (3,)
    bb, d = make_backbone("resnet_mini")
    assert AgeRegressor(bb, KoreanHead(d))(torch.randn(3, 3, 32, 32)).shape == (3,)
    r = R21DRegressor(R21DMini(), 4)
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
@pytest.mark.parametrize("encoder", ["shared2d", "r21d_mini"])
def test_build_model_by_name(name, encoder):
    cfg = get_config("smoke", encoder=encoder)
    m = build_model(name, cfg)
    x = torch.randn(2, 3, 32, 32)
    if name == "vcop":
        assert m(torch.randn(2, 4, 3, 32, 32))["logits"].shape == (2, 24)
    else:
        assert m.eval()(x).shape == (2,)


def test_channels_last_leaves_3d_convolutions_alone():
    from facelib.train import channels_last
    m = channels_last(R21DOrderModel(4))            # Module.to(memory_format=...) would raise here
    assert m(torch.randn(2, 4, 3, 32, 32))["logits"].shape == (2, 24)
    bb, _ = make_backbone("resnet_mini")
    channels_last(bb)
    assert bb.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
