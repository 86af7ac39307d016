"""keras_vit's registered layers, one per module; importing this package registers them all."""

from keras_vit.layers.absolute_position import AbsolutePosition
from keras_vit.layers.average_pooling import GlobalAveragePooling
from keras_vit.layers.bottleneck import Bottleneck
from keras_vit.layers.class_token import ClassToken
from keras_vit.layers.classifier_head import ClassifierHead
from keras_vit.layers.distilled_classifier_head import DistilledClassifierHead
from keras_vit.layers.drop_path import DropPath
from keras_vit.layers.group_norm import GroupNorm
from keras_vit.layers.layer_norm import LayerNorm
from keras_vit.layers.layer_scale import LayerScale
from keras_vit.layers.learned_position_1d import LearnedPosition1D
from keras_vit.layers.learned_position_2d import LearnedPosition2D
from keras_vit.layers.map_pooling import MAPPooling
from keras_vit.layers.mlp import MLP
from keras_vit.layers.msa import MSA
from keras_vit.layers.patch_embed import PatchEmbed
from keras_vit.layers.pixel_embed import PixelEmbed
from keras_vit.layers.pixel_position import PixelPosition
from keras_vit.layers.pixel_projection import PixelProjection
from keras_vit.layers.preact_bottleneck import PreActBottleneck
from keras_vit.layers.relative_position import RelativePosition
from keras_vit.layers.resnet_root import ResNetRoot
from keras_vit.layers.resnet_stem import ResNetStem
from keras_vit.layers.rotary_msa import RotaryMSA
from keras_vit.layers.rotary_position_2d import RotaryPosition2D
from keras_vit.layers.sincos_position_2d import SinCosPosition2D
from keras_vit.layers.std_conv2d import StdConv2D
from keras_vit.layers.swiglu import SwiGLU
from keras_vit.layers.tnt_block import TNTBlock
from keras_vit.layers.token_pooling import TokenPooling
from keras_vit.layers.transformer_block import TransformerBlock

__all__ = [
    "AbsolutePosition", "Bottleneck", "ClassToken", "ClassifierHead", "DistilledClassifierHead", "DropPath",
    "GlobalAveragePooling", "GroupNorm", "LayerNorm", "LayerScale", "LearnedPosition1D", "LearnedPosition2D",
    "MAPPooling", "MLP", "MSA", "PatchEmbed", "PixelEmbed", "PixelPosition", "PixelProjection",
    "PreActBottleneck", "RelativePosition", "ResNetRoot", "ResNetStem", "RotaryMSA", "RotaryPosition2D",
    "SinCosPosition2D", "StdConv2D", "SwiGLU", "TNTBlock", "TokenPooling", "TransformerBlock",
]
