"""Detection and segmentation on zoo backbones. This part sits on top of the zoo; the zoo never imports it.

Needs TensorFlow: the matcher runs SciPy's exact Hungarian algorithm through `tf.numpy_function`.
"""

from keras_vit.tasks.boxes import (
    cxcywh_to_xyxy,
    generalized_iou,
    iou,
    pairwise_generalized_iou,
    pairwise_iou,
    validate_boxes,
    xyxy_to_cxcywh,
)
from keras_vit.tasks.matcher import assign, check_targets, hungarian_match, matching_cost
from keras_vit.tasks.set_loss import DETRSetLoss, split_targets

__all__ = [
    "DETRSetLoss",
    "assign",
    "check_targets",
    "cxcywh_to_xyxy",
    "generalized_iou",
    "hungarian_match",
    "iou",
    "matching_cost",
    "pairwise_generalized_iou",
    "pairwise_iou",
    "split_targets",
    "validate_boxes",
    "xyxy_to_cxcywh",
]
