"""Detection and segmentation on zoo backbones: necks, decoders, heads and the task model families. Importing it
registers them; the zoo (models, weights, zoo.create) never imports it. Task specs live in `registry/tasks/`.

    >>> detector = keras_vit.create("detr_vit_ti16_digits")
    >>> segmenter = keras_vit.create("seg_vit_ti16_digits", backbone_weights="runs/mnist_vit/model.keras")
"""

from keras_vit.tasks.detr import DETR
from keras_vit.tasks.segmenter import Segmenter

__all__ = ["DETR", "Segmenter"]
