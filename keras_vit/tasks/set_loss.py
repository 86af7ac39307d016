"""DETR's set prediction loss: Hungarian matching, then class, L1 and GIoU losses on the matched pairs."""

import keras
import tensorflow as tf
from keras import ops

from keras_vit.tasks.boxes import cxcywh_to_xyxy, generalized_iou
from keras_vit.tasks.matcher import _PLACEHOLDER_BOX, hungarian_match


def split_targets(y_true):
    """Returns (boxes (B, M, 4), labels (B, M) int32) from either form of y_true that DETRSetLoss takes."""
    if isinstance(y_true, dict):
        missing = {"boxes", "labels"} - set(y_true)
        if missing:
            raise ValueError(f"y_true as a dict needs the keys 'boxes' and 'labels'; missing {sorted(missing)}.")
        boxes, labels = y_true["boxes"], y_true["labels"]
    else:
        if len(y_true.shape) != 3 or y_true.shape[-1] != 5:
            raise ValueError(
                "y_true must be a dict {'boxes': (B, M, 4), 'labels': (B, M)} or a packed tensor (B, M, 5) of "
                f"[cx, cy, w, h, label]; received shape {tuple(y_true.shape)}."
            )
        boxes, labels = y_true[..., :4], y_true[..., 4]
    # Labels travel as floats in the packed form (and Loss.__call__ casts dicts too); ids are small integers,
    # exact in float32, and rounding guards against any representation error.
    return boxes, ops.cast(ops.round(ops.cast(labels, "float32")), "int32")


@keras.saving.register_keras_serializable(package="keras_vit")
class DETRSetLoss(keras.losses.Loss):
    """DETR's set loss (Carion et al. 2020) over Hungarian-matched predictions, with auxiliary decoder losses.

    Each image's queries are matched one-to-one to its targets by `hungarian_match` (the same weights as the
    loss). Matched queries learn their target's class and box; the others learn "no object". The loss is
    class_weight * CE + bbox_weight * L1 + giou_weight * (1 - GIoU): CE is the cross-entropy over all queries,
    weighted 1 for matched queries and `eos_coef` for "no object" ones, averaged with those weights; L1 (summed
    over the 4 coordinates) and 1 - GIoU are summed over matched pairs and divided by the number of target boxes
    in the batch (at least 1, so scenes without objects give box losses of 0). Each entry of "aux_outputs" is
    matched on its own and its loss added, as DETR does after every decoder layer.

    Matching runs SciPy through `tf.numpy_function` (see `keras_vit.tasks.matcher`): use the TensorFlow backend
    and compile with `jit_compile=False`. Keras 3's `compile(loss=...)` would apply a single loss to each entry
    of a dict output separately, so a detector calls this loss from its `compute_loss` override instead (the
    test `test_fits_through_compute_loss` shows the few lines). Under tf.distribute, `Loss.__call__`'s default
    reduction would not divide a scalar loss by the number of replicas, so the call does (the summed gradients then
    average the replicas as Keras expects); the box count is each replica's own (DETR all-reduces it across GPUs,
    a difference in weighting only).

    Args:
        eos_coef: weight of the "no object" class in the cross-entropy (DETR: 0.1).
        class_weight: weight of the classification loss and cost (DETR: 1).
        bbox_weight: weight of the L1 box loss and cost (DETR: 5).
        giou_weight: weight of the GIoU loss and cost (DETR: 2).
        name, reduction, dtype: as for `keras.losses.Loss`; the loss is already a scalar per batch.

    Call arguments:
        y_true: padded targets, either a dict {"boxes": (B, M, 4) normalized cxcywh, "labels": (B, M) int with
            -1 for padding} or one packed tensor (B, M, 5) of [cx, cy, w, h, label], label -1 for padding.
        y_pred: dict with "logits" (B, Q, C + 1), last class "no object"; "boxes" (B, Q, 4) normalized cxcywh
            (sigmoid applied); optional "aux_outputs", a list of dicts with the same two keys.

    Returns:
        A scalar tensor.

    Reference:
        Carion et al., "End-to-End Object Detection with Transformers", ECCV 2020.
    """

    def __init__(
        self,
        eos_coef=0.1,
        class_weight=1.0,
        bbox_weight=5.0,
        giou_weight=2.0,
        name="detr_set_loss",
        reduction="sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        for argument, value in [("eos_coef", eos_coef), ("class_weight", class_weight),
                                ("bbox_weight", bbox_weight), ("giou_weight", giou_weight)]:
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{argument} must be a non-negative number; received {value!r}.")
        self.eos_coef = float(eos_coef)
        self.class_weight = float(class_weight)
        self.bbox_weight = float(bbox_weight)
        self.giou_weight = float(giou_weight)

    def call(self, y_true, y_pred):
        loss = sum(self.components(y_true, y_pred).values())
        # Keras divides a loss by the number of replicas only while reducing a non-scalar one (Loss.__call__ returns
        # a scalar as it is); without this, MirroredStrategy sums the replicas' gradients (2x over two replicas,
        # tests/tasks/test_detr_distributed.py).
        return loss / tf.distribute.get_strategy().num_replicas_in_sync

    def components(self, y_true, y_pred):
        """The weighted terms of the loss, for logging: {"class", "l1", "giou"} and "<term>_<i>" per aux output.

        Takes the same arguments as the call; the values sum to the loss.
        """
        if not isinstance(y_pred, dict) or not {"logits", "boxes"} <= set(y_pred):
            raise ValueError(
                "y_pred must be a dict with 'logits' (B, Q, C + 1) and 'boxes' (B, Q, 4) and optionally "
                f"'aux_outputs'; received {type(y_pred).__name__}"
                + (f" with keys {sorted(y_pred)}" if isinstance(y_pred, dict) else "") + "."
            )
        target_boxes, target_labels = split_targets(y_true)
        real = target_labels >= 0
        # DETR normalizes box losses by the number of targets, not of matched queries (equal unless a batch has
        # more targets than queries, which the matcher refuses), and by at least 1 for empty batches.
        num_boxes = ops.maximum(ops.sum(ops.cast(real, "float32")), 1.0)
        terms = {}
        outputs = [("", y_pred)] + [(f"_{i}", aux) for i, aux in enumerate(y_pred.get("aux_outputs") or [])]
        for suffix, output in outputs:
            for key, value in self._single(output, target_boxes, target_labels, num_boxes).items():
                terms[key + suffix] = value
        return terms

    def _single(self, output, target_boxes, target_labels, num_boxes):
        logits, boxes = output["logits"], output["boxes"]
        if len(logits.shape) != 3 or len(boxes.shape) != 3 or boxes.shape[-1] != 4:
            raise ValueError(
                f"'logits' must be (B, Q, C + 1) and 'boxes' (B, Q, 4); received {tuple(logits.shape)} and "
                f"{tuple(boxes.shape)}."
            )
        logits = ops.cast(logits, "float32")
        boxes = ops.cast(boxes, "float32")
        num_classes = logits.shape[-1] - 1
        matches = hungarian_match(
            logits, boxes, target_boxes, target_labels, self.class_weight, self.bbox_weight, self.giou_weight
        )
        matched = matches >= 0
        index = ops.maximum(matches, 0)
        labels = ops.take_along_axis(target_labels, index, axis=1)
        target_class = ops.where(matched, labels, num_classes)
        weights = ops.where(matched, 1.0, self.eos_coef)
        log_probabilities = ops.log_softmax(logits, axis=-1)
        cross_entropy = -ops.sum(ops.one_hot(target_class, num_classes + 1) * log_probabilities, axis=-1)
        class_loss = ops.sum(weights * cross_entropy) / ops.sum(weights)

        # Unmatched queries gather some target too (index 0); a placeholder box keeps their GIoU finite so that
        # masking them out leaves no NaN in the gradient.
        gathered = ops.take_along_axis(ops.cast(target_boxes, "float32"), ops.expand_dims(index, -1), axis=1)
        mask = ops.cast(matched, "float32")
        gathered = ops.where(ops.expand_dims(matched, -1), gathered, ops.convert_to_tensor(_PLACEHOLDER_BOX))
        l1 = ops.sum(mask * ops.sum(ops.abs(boxes - gathered), axis=-1)) / num_boxes
        giou = generalized_iou(cxcywh_to_xyxy(boxes), cxcywh_to_xyxy(gathered))
        giou_loss = ops.sum(mask * (1.0 - giou)) / num_boxes
        return {
            "class": self.class_weight * class_loss,
            "l1": self.bbox_weight * l1,
            "giou": self.giou_weight * giou_loss,
        }

    def get_config(self):
        return {
            **super().get_config(),
            "eos_coef": self.eos_coef,
            "class_weight": self.class_weight,
            "bbox_weight": self.bbox_weight,
            "giou_weight": self.giou_weight,
            "dtype": self.dtype,
        }
