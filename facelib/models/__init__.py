"""Models: backbones, regression heads, the r21d_original reference and the shared2d order model."""
from .backbones import BACKBONES, MiniResNet, make_backbone
from .heads import AgeRegressor, KoreanHead, SimpleHead, set_output_bias
from .order import Shared2DOrderModel, VCOPPairHead, scores_to_perm_logits
from .r21d import R21DOrderModel, R21DOriginal, R21DRegressor

__all__ = ["BACKBONES", "MiniResNet", "make_backbone", "AgeRegressor", "KoreanHead", "SimpleHead",
           "set_output_bias", "Shared2DOrderModel", "VCOPPairHead", "scores_to_perm_logits",
           "R21DOriginal", "R21DOrderModel", "R21DRegressor"]
