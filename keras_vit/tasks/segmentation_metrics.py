"""Semantic segmentation's loss and mean IoU: a Keras metric for training, a whole-set evaluation in NumPy.

IoU of class c = TP_c / (TP_c + FP_c + FN_c) from the confusion matrix summed over every pixel of the set (not
averaged per image); a class absent from both the labels and the predictions has no IoU (NaN) and is left out of the
mean, as Keras's MeanIoU does.
"""

import keras
import numpy as np
from keras import ops


def pixel_cross_entropy(foreground_weight=1.0):
    """Per-pixel cross-entropy of (batch, height, width, classes) logits against (batch, height, width) class ids,
    averaged over every pixel (Keras's sparse categorical cross-entropy, which takes any number of spatial axes);
    with `foreground_weight` != 1, pixels of every class but 0 (background) weigh that much (`ForegroundWeightedCE`).
    """
    if foreground_weight == 1.0:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, name="pixel_cross_entropy")
    return ForegroundWeightedCE(foreground_weight)


@keras.saving.register_keras_serializable(package="keras_vit")
class ForegroundWeightedCE(keras.losses.Loss):
    """Per-pixel cross-entropy in which pixels of class > 0 (the objects) weigh `foreground_weight` and background
    pixels 1, averaged over every pixel.

    Why: on digit scenes background is ~94% of the pixels and learned within an epoch; the digits' classes, what
    mean IoU measures, then get a small share of the gradient.

    Args:
        foreground_weight: float > 0.

    Call arguments:
        y_true: (batch, height, width) int class ids, 0 background.
        y_pred: (batch, height, width, classes) logits.
    """

    def __init__(self, foreground_weight=1.0, name="pixel_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        if not (isinstance(foreground_weight, (int, float)) and foreground_weight > 0):
            raise ValueError(f"foreground_weight must be a number > 0; received {foreground_weight!r}.")
        self.foreground_weight = float(foreground_weight)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        per_pixel = keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
        return per_pixel * ops.where(y_true > 0, self.foreground_weight, 1.0)

    def get_config(self):
        return {**super().get_config(), "foreground_weight": self.foreground_weight}


def mean_iou_metric(num_classes):
    """A Keras metric (name "mean_iou") over (batch, height, width) class ids and (batch, height, width, classes)
    logits; it accumulates one confusion matrix over every batch of an epoch or an evaluation."""
    return keras.metrics.MeanIoU(num_classes, sparse_y_pred=False, name="mean_iou")


def confusion_matrix(labels, predictions, num_classes):
    """(num_classes, num_classes) int64 counts, rows the true class, columns the predicted one.

    Raises:
        ValueError: shapes that differ, or class ids outside [0, num_classes).
    """
    if np.shape(labels) != np.shape(predictions):
        raise ValueError(f"labels and predictions must have the same shape; received {np.shape(labels)} and "
                         f"{np.shape(predictions)}.")
    labels, predictions = np.asarray(labels).ravel(), np.asarray(predictions).ravel()
    for name, ids in (("labels", labels), ("predictions", predictions)):
        if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
            raise ValueError(f"{name} hold class ids in [{ids.min()}, {ids.max()}], outside [0, {num_classes}): "
                             f"pass num_classes covering every id (background included).")
    flat = labels.astype(np.int64) * num_classes + predictions.astype(np.int64)
    return np.bincount(flat, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def iou_from_confusion(confusion):
    """(per-class IoU (num_classes,) float64 with NaN for classes never seen nor predicted, their mean)."""
    confusion = np.asarray(confusion, np.float64)
    true_positives = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - true_positives
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(union > 0, true_positives / union, np.nan)
    return per_class, float(np.nanmean(per_class)) if np.isfinite(per_class).any() else float("nan")


def evaluate_segmentation(model, batches, num_classes=None):
    """Per-class IoU and mean IoU of a segmenter over a whole set.

    Args:
        model: a model from (batch, height, width, channels) images to (batch, height, width, classes) logits.
        batches: an iterable of (images, masks) batches, e.g. a tf.data.Dataset (the held-out stream of a data
            source); masks (batch, height, width) class ids.
        num_classes: default: the logits' last axis.

    Returns:
        {"mean_iou": float, "per_class_iou": list of floats (NaN: class absent), "confusion": (C, C) int64 array,
        "pixels": int}.
    """
    confusion = None
    for images, masks in batches:
        logits = np.asarray(model.predict_on_batch(images))
        classes = num_classes or logits.shape[-1]
        counts = confusion_matrix(np.asarray(masks), logits.argmax(-1), classes)
        confusion = counts if confusion is None else confusion + counts
    if confusion is None:
        raise ValueError("evaluate_segmentation received no batches.")
    per_class, mean = iou_from_confusion(confusion)
    return {"mean_iou": mean, "per_class_iou": per_class.tolist(), "confusion": confusion,
            "pixels": int(confusion.sum())}
