"""Model families; importing this package registers them."""

from keras_vit.models.builder import build
from keras_vit.models.distillation import HardDistillation, distillation_outputs
from keras_vit.models.features import feature_extractor
from keras_vit.models.resnet_v2 import ResNetV2
from keras_vit.models.tnt import TNT
from keras_vit.models.vit import ViT
from keras_vit.models.zoo_model import ZooModel

__all__ = ["HardDistillation", "ResNetV2", "TNT", "ViT", "ZooModel", "build", "distillation_outputs", "feature_extractor"]
