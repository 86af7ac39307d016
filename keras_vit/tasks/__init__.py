"""Detection and segmentation on zoo backbones: necks, decoders, heads and the task model families (DETR, the
segmenter), boxes, DETR's matching and set loss. It sits on top of the zoo; the zoo never imports it. Task specs live
in `registry/tasks/`.

    >>> detector = keras_vit.create("detr_vit_ti16_digits")
    >>> segmenter = keras_vit.create("seg_vit_ti16_digits", backbone_weights="runs/mnist_vit/model.keras")

The models run on every Keras backend; DETR's loss needs TensorFlow (the matcher runs SciPy's exact Hungarian
algorithm through `tf.numpy_function`) and loads with TensorFlow's backend, or on first use.
"""

import keras

from keras_vit.tasks import data_source  # noqa: F401  (registers the data source "digit_scenes" of task recipes)
from keras_vit.tasks.boxes import (
    cxcywh_to_xyxy,
    generalized_iou,
    iou,
    pairwise_generalized_iou,
    pairwise_iou,
    validate_boxes,
    xyxy_to_cxcywh,
)
from keras_vit.tasks.decoder_attention import decoder_attention, plot_decoder_attention
from keras_vit.tasks.detr import DETR
from keras_vit.tasks.segmenter import Segmenter

_TENSORFLOW_NAMES = {"DETRSetLoss": "set_loss", "split_targets": "set_loss", "assign": "matcher",
                     "check_targets": "matcher", "hungarian_match": "matcher", "matching_cost": "matcher"}


def __getattr__(name):
    if name not in _TENSORFLOW_NAMES:
        raise AttributeError(f"module 'keras_vit.tasks' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"keras_vit.tasks.{_TENSORFLOW_NAMES[name]}"), name)


if keras.backend.backend() == "tensorflow":
    # Registers DETRSetLoss, so that a compiled detector's .keras file loads.
    from keras_vit.tasks import set_loss  # noqa: F401

__all__ = ["DETR", "Segmenter", *_TENSORFLOW_NAMES, "cxcywh_to_xyxy", "decoder_attention", "generalized_iou", "iou",
           "pairwise_generalized_iou", "pairwise_iou", "plot_decoder_attention", "validate_boxes", "xyxy_to_cxcywh"]
