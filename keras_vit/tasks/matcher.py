"""Exact Hungarian matching of DETR's predictions to padded ground truth.

Ground truth per image comes padded to a fixed number M of targets so that batches have static shapes:
boxes (B, M, 4) normalized cxcywh and labels (B, M) with -1 marking padding rows.

Why SciPy through `tf.numpy_function` and not TensorFlow ops: the assignment must be exact (DETR's loss is defined
on the optimal one), and its matrices are small, at most about 100 queries x 20 targets per image, where the
O(n^3) Hungarian algorithm takes microseconds in `scipy.optimize.linear_sum_assignment`, an exact and fast C
implementation. In TensorFlow ops it would be either an iterative approximation (Sinkhorn, auction) or a long
data-dependent `tf.while_loop`, slower and harder to get right. The matching carries no gradient, so leaving the
graph costs nothing in training. The price: the step cannot be XLA-compiled (`jit_compile=False` in `compile`),
and the matcher needs the TensorFlow backend, which is the one tasks are trained on (model.fit under
tf.distribute); each replica matches its own images.
"""

import numpy as np
import tensorflow as tf
from keras import ops

from keras_vit.tasks.boxes import cxcywh_to_xyxy, pairwise_generalized_iou, validate_boxes

# A harmless box put in place of padding rows before costs are computed: an all-zero padding box would give
# 0 / 0 in GIoU; padded columns are dropped before the assignment anyway.
_PLACEHOLDER_BOX = (0.5, 0.5, 0.5, 0.5)


def check_targets(labels, num_queries, num_classes=None):
    """Checks padded ground-truth labels before training, where an error is cheap and clear.

    Args:
        labels: integer array (B, M), class ids in [0, num_classes) and -1 for padding.
        num_queries: the detector's number of object queries; no image may have more targets.
        num_classes: optional number of object classes (without "no object") to check the ids against.

    Raises:
        ValueError: naming the images with too many targets, or the labels out of range, and the fix.
    """
    labels = np.asarray(ops.convert_to_numpy(labels))
    if labels.ndim != 2:
        raise ValueError(f"labels must have shape (batch, max_targets); received shape {labels.shape}.")
    counts = (labels != -1).sum(axis=1)
    crowded = np.flatnonzero(counts > num_queries)
    if crowded.size:
        raise ValueError(
            f"{crowded.size} image(s) have more targets than the model has object queries ({num_queries}): "
            f"images {crowded[:10].tolist()} with {counts[crowded[:10]].tolist()} targets. Each query predicts one "
            "object, so raise num_queries above the largest number of objects per image or split those images."
        )
    high = np.inf if num_classes is None else num_classes
    bad = np.argwhere((labels < -1) | (labels >= high))
    if bad.size:
        raise ValueError(
            f"{len(bad)} label(s) are out of range at indices {[tuple(map(int, i)) for i in bad[:10]]} "
            f"(values {labels[tuple(bad[:10].T)].tolist()}); class ids must lie in [0, {num_classes}) "
            "and padding must be -1."
        )


def matching_cost(logits, boxes, target_boxes, target_labels, class_weight=1.0, bbox_weight=5.0, giou_weight=2.0):
    """DETR's matching cost of every query against every target, per image.

    cost = class_weight * (-p(target class)) + bbox_weight * L1(boxes) + giou_weight * (-GIoU(boxes)).

    Args:
        logits: (B, Q, C + 1) class logits, the last class "no object".
        boxes: (B, Q, 4) predicted boxes, normalized cxcywh.
        target_boxes: (B, M, 4) padded target boxes, normalized cxcywh.
        target_labels: (B, M) integer labels, -1 for padding.

    Returns:
        (B, Q, M) cost; columns of padding targets hold finite values that the assignment ignores.
    """
    target_labels = ops.cast(target_labels, "int32")
    real = ops.expand_dims(target_labels >= 0, -1)
    target_boxes = ops.where(real, ops.cast(target_boxes, boxes.dtype), ops.convert_to_tensor(_PLACEHOLDER_BOX, boxes.dtype))
    probabilities = ops.softmax(logits, axis=-1)
    one_hot = ops.one_hot(ops.maximum(target_labels, 0), ops.shape(logits)[-1], dtype=logits.dtype)
    class_cost = -ops.einsum("bqc,bmc->bqm", probabilities, one_hot)
    l1_cost = ops.sum(ops.abs(ops.expand_dims(boxes, 2) - ops.expand_dims(target_boxes, 1)), axis=-1)
    giou = pairwise_generalized_iou(cxcywh_to_xyxy(boxes), cxcywh_to_xyxy(target_boxes))
    return class_weight * class_cost + bbox_weight * l1_cost - giou_weight * ops.cast(giou, logits.dtype)


def _assign_numpy(cost, labels, boxes, num_classes):
    # Runs outside the graph, on NumPy arrays: cost (B, Q, M) float, labels (B, M) int, boxes (B, M, 4) cxcywh.
    # Every batch's targets are checked here, where the loss sees them: a class id of C would otherwise train as
    # "no object", and a degenerate box would give NaN in GIoU, both silently.
    num_classes = int(num_classes)
    check_targets(labels, cost.shape[1], num_classes if num_classes > 0 else None)
    validate_boxes(boxes, labels)
    real = labels >= 0
    try:  # imported here so that keras_vit.tasks imports without SciPy; only training needs it
        from scipy.optimize import linear_sum_assignment
    except ImportError as error:
        raise ImportError(
            "DETR's Hungarian matching needs SciPy: pip install 'keras_vit[tasks]' (or pip install scipy)."
        ) from error
    matches = np.full(cost.shape[:2], -1, np.int32)
    for image, (image_cost, image_real) in enumerate(zip(cost, real)):
        columns = np.flatnonzero(image_real)
        if not columns.size:
            continue
        sub_cost = image_cost[:, columns]
        if not np.all(np.isfinite(sub_cost)):
            raise ValueError(
                f"the matching cost of image {image} holds NaN or infinity: the model's predictions diverged "
                "(lower the learning rate or clip gradients)."
            )
        rows, picked = linear_sum_assignment(sub_cost)
        matches[image, rows] = columns[picked]
    return matches


def assign(cost, target_labels, target_boxes=None, num_classes=None):
    """Optimal one-to-one assignment of queries to real targets, per image (SciPy's Hungarian algorithm).

    The targets are checked on the way (`check_targets`, `validate_boxes`): more targets than queries, class ids
    outside [0, num_classes), boxes outside the image or degenerate raise a ValueError naming them.

    Args:
        cost: (B, Q, M) matching cost.
        target_labels: (B, M) integer labels, -1 for padding (those columns are never assigned).
        target_boxes: optional (B, M, 4) normalized cxcywh boxes, checked.
        num_classes: optional number of object classes, to check the labels against.

    Returns:
        (B, Q) int32: the target index matched to each query, or -1 for queries left unmatched ("no object").
    """
    cost = tf.stop_gradient(tf.convert_to_tensor(cost))
    labels = tf.cast(target_labels, tf.int32)
    boxes = tf.fill(tf.concat([tf.shape(labels), [4]], 0), 0.5) if target_boxes is None else target_boxes
    matches = tf.numpy_function(_assign_numpy, [cost, labels, tf.cast(boxes, tf.float32), num_classes or 0],
                                tf.int32, stateful=False, name="hungarian_assign")
    # numpy_function forgets shapes; restoring them keeps the rest of the loss statically shaped.
    matches.set_shape(cost.shape[:2])
    return matches


def hungarian_match(
    logits, boxes, target_boxes, target_labels, class_weight=1.0, bbox_weight=5.0, giou_weight=2.0
):
    """Matches DETR's predictions to padded targets, minimizing DETR's matching cost exactly.

    Args:
        logits: (B, Q, C + 1) class logits, the last class "no object".
        boxes: (B, Q, 4) predicted boxes, normalized cxcywh.
        target_boxes: (B, M, 4) padded target boxes, normalized cxcywh.
        target_labels: (B, M) integer labels, -1 for padding.
        class_weight, bbox_weight, giou_weight: the cost's weights (DETR: 1, 5, 2).

    Returns:
        (B, Q) int32: the matched target index of each query, -1 where unmatched.
    """
    cost = matching_cost(logits, boxes, target_boxes, target_labels, class_weight, bbox_weight, giou_weight)
    return assign(cost, target_labels, target_boxes, num_classes=logits.shape[-1] - 1)
