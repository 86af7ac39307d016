"""keras_vit's registered layers, one per module; importing this package registers them all."""

from keras_vit.layers.absolute_position import AbsolutePosition
from keras_vit.layers.average_pooling import GlobalAveragePooling
from keras_vit.layers.class_token import ClassToken
from keras_vit.layers.classifier_head import ClassifierHead
from keras_vit.layers.drop_path import DropPath
from keras_vit.layers.learned_position_1d import LearnedPosition1D
from keras_vit.layers.learned_position_2d import LearnedPosition2D
from keras_vit.layers.map_pooling import MAPPooling
from keras_vit.layers.mlp import MLP
from keras_vit.layers.msa import MSA
from keras_vit.layers.patch_embed import PatchEmbed
from keras_vit.layers.pixel_embed import PixelEmbed
from keras_vit.layers.pixel_position import PixelPosition
from keras_vit.layers.pixel_projection import PixelProjection
from keras_vit.layers.relative_position import RelativePosition
from keras_vit.layers.sincos_position_2d import SinCosPosition2D
from keras_vit.layers.tnt_block import TNTBlock
from keras_vit.layers.token_pooling import TokenPooling
from keras_vit.layers.transformer_block import TransformerBlock

__all__ = [
    "AbsolutePosition",
    "ClassToken",
    "ClassifierHead",
    "DropPath",
    "GlobalAveragePooling",
    "LearnedPosition1D",
    "LearnedPosition2D",
    "MAPPooling",
    "MLP",
    "MSA",
    "PatchEmbed",
    "PixelEmbed",
    "PixelPosition",
    "PixelProjection",
    "RelativePosition",
    "SinCosPosition2D",
    "TNTBlock",
    "TokenPooling",
    "TransformerBlock",
]
