"""Each run's architecture, built from the config, and trained runs rebuilt from their weights."""
from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from ..config import (
    FINETUNE_ARMS,
    SUPERVISED_PRETEXT,
    Config,
    base_name,
    config_from_dict,
)
from .backbones import make_backbone
from .heads import AgeRegressor, KoreanHead, SimpleHead
from .order import Shared2DOrderModel
from .r21d import R21DOrderModel, R21DOriginal, R21DRegressor


def build_regressor(cfg: Config, head: str = "simple", encoder: str = "shared2d") -> nn.Module:
    """An age regressor: (B, 3, H, W) → (B,). encoder "r21d_original" gives the original's stacked-copies model."""
    if encoder == "r21d_original":
        return R21DRegressor(R21DOriginal(), cfg.tuple_len)
    backbone, dim = make_backbone(cfg.backbone, cfg.imagenet_init)
    return AgeRegressor(backbone, KoreanHead(dim) if head == "korean" else SimpleHead(dim, cfg.head_dropout))


def build_order_model(cfg: Config, encoder: str = "shared2d", backbone=None) -> nn.Module:
    if encoder == "r21d_original":
        return R21DOrderModel(cfg.tuple_len, backbone)
    if backbone is None:
        backbone, dim = make_backbone(cfg.backbone, cfg.imagenet_init)
    else:
        dim = feature_dim(backbone, cfg.image_size)
    return Shared2DOrderModel(backbone, dim, cfg.tuple_len, cfg.order_head)


def feature_dim(backbone, size) -> int:
    with torch.no_grad():
        was = backbone.training
        backbone.eval()
        d = backbone(torch.zeros(1, 3, size, size)).shape[-1]
        backbone.train(was)
    return d


class MultitrainModel(nn.Module):
    """`order` and `regressor`; with a shared encoder both hold the same backbone object."""

    def __init__(self, order: nn.Module, regressor: nn.Module):
        super().__init__()
        self.order, self.regressor = order, regressor

    def forward(self, x):
        return self.regressor(x)

    def param_groups(self, lr: float, backbone_lr_mult: float):
        """The groups of condition 3: encoder(s) at lr x backbone_lr_mult, every head at lr."""
        encoders = {id(p): p for m in (self.regressor.backbone, encoder_of(self.order)) for p in m.parameters()}
        heads = [p for p in self.parameters() if id(p) not in encoders]
        return [{"params": list(encoders.values()), "lr": lr * backbone_lr_mult, "name": "backbone"},
                {"params": heads, "lr": lr, "name": "head"}]


def encoder_of(order_model: nn.Module) -> nn.Module:
    return order_model.encoder if isinstance(order_model, R21DOrderModel) else order_model.backbone


def build_multitrain(cfg: Config) -> MultitrainModel:
    if cfg.encoder == "r21d_original":
        enc = R21DOriginal()
        regressor = R21DRegressor(enc if cfg.share_encoder else R21DOriginal(), cfg.tuple_len)
        return MultitrainModel(R21DOrderModel(cfg.tuple_len, enc), regressor)
    regressor = build_regressor(cfg)
    order = build_order_model(cfg, backbone=regressor.backbone if cfg.share_encoder else None)
    return MultitrainModel(order, regressor)


def build_model(name: str, cfg: Config) -> nn.Module:
    """The architecture of a named run (`base_name` of it), as `model_from_checkpoint` rebuilds it."""
    name = base_name(name)
    if name == "baseline":
        return build_regressor(cfg)
    if name == "korean_finetuned":
        return build_regressor(cfg, head="korean")
    if name == "vcop":
        return build_order_model(cfg, cfg.encoder)
    if name in (*FINETUNE_ARMS, SUPERVISED_PRETEXT):
        return build_regressor(cfg, encoder=cfg.encoder)
    if name == "multitrain":
        return build_multitrain(cfg)
    raise ValueError(f"unknown run {name!r}")


def model_from_checkpoint(name: str, ckpt: dict) -> tuple[nn.Module, Config]:
    cfg = config_from_dict(ckpt["config"])
    model = build_model(name, replace(cfg, imagenet_init=False))  # the checkpoint holds every weight
    model.load_state_dict(ckpt["model"])
    return model.eval(), cfg


def regressor_of(model: nn.Module) -> nn.Module:
    """The age regressor of a run's model (multitrain's regressor part)."""
    return model.regressor if isinstance(model, MultitrainModel) else model
