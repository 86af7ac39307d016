"""Box formats, IoU and generalized IoU in keras.ops, and checks for ground-truth boxes.

Boxes are normalized to the image: coordinates in [0, 1]. Two formats are used:
``cxcywh`` (center x, center y, width, height), which DETR's box head predicts, and ``xyxy``
(x1, y1, x2, y2 with x1 < x2 and y1 < y2), in which areas and intersections are simple.
"""

import keras
import numpy as np
from keras import ops

# Clamps a union or enclosing area away from 0 so that a zero-size predicted box gives a finite value and
# finite gradients; positive areas of real boxes are far above it, so their IoU is unchanged.
_EPSILON = 1e-9


def cxcywh_to_xyxy(boxes):
    """Converts boxes from (cx, cy, w, h) to (x1, y1, x2, y2).

    Args:
        boxes: tensor of shape (..., 4) in cxcywh.

    Returns:
        Tensor of shape (..., 4) in xyxy.
    """
    cx, cy, w, h = ops.unstack(boxes, 4, axis=-1)
    return ops.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=-1)


def xyxy_to_cxcywh(boxes):
    """Converts boxes from (x1, y1, x2, y2) to (cx, cy, w, h).

    Args:
        boxes: tensor of shape (..., 4) in xyxy.

    Returns:
        Tensor of shape (..., 4) in cxcywh.
    """
    x1, y1, x2, y2 = ops.unstack(boxes, 4, axis=-1)
    return ops.stack([0.5 * (x1 + x2), 0.5 * (y1 + y2), x2 - x1, y2 - y1], axis=-1)


def _area(boxes):
    # Negative extents (a box inverted by a wild prediction) count as empty, not as negative area.
    return ops.maximum(boxes[..., 2] - boxes[..., 0], 0.0) * ops.maximum(boxes[..., 3] - boxes[..., 1], 0.0)


def _iou_and_union(boxes1, boxes2):
    top_left = ops.maximum(boxes1[..., :2], boxes2[..., :2])
    bottom_right = ops.minimum(boxes1[..., 2:], boxes2[..., 2:])
    extent = ops.maximum(bottom_right - top_left, 0.0)
    intersection = extent[..., 0] * extent[..., 1]
    union = _area(boxes1) + _area(boxes2) - intersection
    return intersection / ops.maximum(union, _EPSILON), union


def iou(boxes1, boxes2):
    """Elementwise intersection over union of xyxy boxes; leading dimensions broadcast.

    Args:
        boxes1: tensor of shape (..., 4) in xyxy.
        boxes2: tensor of shape (..., 4) in xyxy, broadcastable against `boxes1`.

    Returns:
        Tensor of the broadcast leading shape, values in [0, 1].
    """
    return _iou_and_union(boxes1, boxes2)[0]


def generalized_iou(boxes1, boxes2):
    """Elementwise generalized IoU (Rezatofighi et al. 2019) of xyxy boxes; leading dimensions broadcast.

    GIoU = IoU - (|C| - |A u B|) / |C|, with C the smallest box enclosing both. Unlike IoU it keeps a gradient
    for disjoint boxes: it falls towards -1 as they move apart.

    Args:
        boxes1: tensor of shape (..., 4) in xyxy.
        boxes2: tensor of shape (..., 4) in xyxy, broadcastable against `boxes1`.

    Returns:
        Tensor of the broadcast leading shape, values in (-1, 1].

    Reference:
        Rezatofighi et al., "Generalized Intersection over Union", CVPR 2019.
    """
    overlap, union = _iou_and_union(boxes1, boxes2)
    enclosing = _area(
        ops.concatenate(
            [ops.minimum(boxes1[..., :2], boxes2[..., :2]), ops.maximum(boxes1[..., 2:], boxes2[..., 2:])], axis=-1
        )
    )
    return overlap - (enclosing - union) / ops.maximum(enclosing, _EPSILON)


def _pairwise(function, boxes1, boxes2):
    # (..., N, 1, 4) against (..., 1, M, 4) broadcasts to every pair (..., N, M).
    return function(ops.expand_dims(boxes1, -2), ops.expand_dims(boxes2, -3))


def pairwise_iou(boxes1, boxes2):
    """IoU of every box in `boxes1` with every box in `boxes2`.

    Args:
        boxes1: tensor of shape (..., N, 4) in xyxy.
        boxes2: tensor of shape (..., M, 4) in xyxy, same leading dimensions.

    Returns:
        Tensor of shape (..., N, M).
    """
    return _pairwise(iou, boxes1, boxes2)


def pairwise_generalized_iou(boxes1, boxes2):
    """Generalized IoU of every box in `boxes1` with every box in `boxes2`.

    Args:
        boxes1: tensor of shape (..., N, 4) in xyxy.
        boxes2: tensor of shape (..., M, 4) in xyxy, same leading dimensions.

    Returns:
        Tensor of shape (..., N, M).
    """
    return _pairwise(generalized_iou, boxes1, boxes2)


def _describe(indices, limit=10):
    shown = ", ".join(str(tuple(int(i) for i in index)) for index in indices[:limit])
    more = f" and {len(indices) - limit} more" if len(indices) > limit else ""
    return shown + more


def validate_boxes(boxes, labels=None, box_format="cxcywh"):
    """Checks ground-truth boxes before training; raises instead of dropping bad boxes silently.

    A box is bad when a coordinate (in xyxy) lies outside [0, 1] or it is degenerate (x2 <= x1 or y2 <= y1).
    Padding rows, those whose label is -1, are not checked.

    Args:
        boxes: array of shape (..., 4), normalized, in `box_format`.
        labels: optional integer array of shape (...) with -1 for padding.
        box_format: "cxcywh" or "xyxy".

    Raises:
        ValueError: naming how many boxes are bad and their indices, for each kind of problem.
    """
    if box_format not in ("cxcywh", "xyxy"):
        raise ValueError(f"box_format must be 'cxcywh' or 'xyxy'; received {box_format!r}.")
    boxes = np.asarray(keras.ops.convert_to_numpy(boxes), dtype=np.float64)
    if boxes.ndim == 0 or boxes.shape[-1] != 4:
        raise ValueError(f"boxes must have shape (..., 4); received shape {boxes.shape}.")
    if box_format == "cxcywh":
        cx, cy, w, h = np.moveaxis(boxes, -1, 0)
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)
    real = np.ones(boxes.shape[:-1], bool)
    if labels is not None:
        labels = np.asarray(keras.ops.convert_to_numpy(labels))
        if labels.shape != boxes.shape[:-1]:
            raise ValueError(f"labels must have shape {boxes.shape[:-1]} to match boxes; received {labels.shape}.")
        real = labels != -1
    problems = []
    # A small tolerance: cxcywh -> xyxy in float32 can land a hair outside an edge the box touches.
    outside = real & np.any((boxes < -1e-6) | (boxes > 1 + 1e-6), axis=-1)
    if outside.any():
        found = np.argwhere(outside)
        problems.append(
            f"{len(found)} box(es) lie outside the image (a coordinate outside [0, 1]) at indices {_describe(found)}; "
            "normalize boxes by the image width and height and clip them to the image"
        )
    degenerate = real & ((boxes[..., 2] <= boxes[..., 0]) | (boxes[..., 3] <= boxes[..., 1]))
    if degenerate.any():
        found = np.argwhere(degenerate)
        problems.append(
            f"{len(found)} box(es) are degenerate (x2 <= x1 or y2 <= y1, zero or negative size) at indices "
            f"{_describe(found)}; drop them from the annotations or give them a positive width and height"
        )
    if problems:
        raise ValueError("Bad ground-truth boxes: " + "; ".join(problems) + ".")
