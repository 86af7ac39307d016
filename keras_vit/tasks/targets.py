"""Training targets from the data readers' per-image annotations, checked before training where errors are cheap.

`digit_scenes` and `read_coco` give boxes as normalized [ymin, xmin, ymax, xmax]; DETR trains on padded
[cx, cy, w, h, label] rows and the segmenter on one class id per pixel at the model's size. Bad input is an error
that names it (never a silent drop); images without objects are kept (documented below).
"""

import numpy as np

from keras_vit.tasks.boxes import validate_boxes
from keras_vit.tasks.matcher import check_targets


def detection_targets(boxes, labels, num_queries, num_classes):
    """DETR's `y`: per-image boxes and labels packed into (S, num_queries, 5) rows of [cx, cy, w, h, label].

    Images without objects are kept: all their rows are padding (label -1), so every query learns "no object" and
    their box losses are 0. `num_empty = int((targets[..., 4] == -1).all(1).sum())` counts them.

    Args:
        boxes: S arrays (N_i, 4) of normalized [ymin, xmin, ymax, xmax] (DigitScenes.boxes, CocoExample.boxes).
        labels: S arrays (N_i,) of 0-based class ids.
        num_queries: the detector's object queries: the padded length, and the most objects an image may hold.
        num_classes: the detector's classes (without "no object").

    Returns:
        float32 (S, num_queries, 5); padding rows [0.5, 0.5, 0.5, 0.5, -1].

    Raises:
        ValueError: boxes outside the image or degenerate, more objects than queries, class ids outside
            [0, num_classes) or not integers, or boxes and labels of different lengths; each names the images.
    """
    if len(boxes) != len(labels):
        raise ValueError(f"boxes hold {len(boxes)} images but labels {len(labels)}.")
    images = []
    for i, (b, lab) in enumerate(zip(boxes, labels)):
        b, lab = np.asarray(b, np.float64), np.asarray(lab)
        b = b.reshape(0, 4) if b.size == 0 else b
        if b.ndim != 2 or b.shape[-1] != 4 or lab.shape != (len(b),):
            raise ValueError(f"image {i}: boxes must be (N, 4) and labels (N,); received {b.shape} and {lab.shape}.")
        if lab.size and not np.all(lab == np.round(lab)):
            raise ValueError(f"image {i}: class ids must be integers; received {lab.tolist()}.")
        images.append((b[:, [1, 0, 3, 2]], lab))  # [xmin, ymin, xmax, ymax]
    # Wider than num_queries only while checking, so that check_targets can name the crowded images.
    width = max([num_queries] + [len(lab) for _, lab in images])
    corners = np.empty((len(images), width, 4))
    corners[:] = (0.25, 0.25, 0.75, 0.75)  # padding: the box [0.5, 0.5, 0.5, 0.5] in cxcywh
    packed_labels = np.full((len(images), width), -1, np.int64)
    for i, (xyxy, lab) in enumerate(images):
        corners[i, :len(lab)], packed_labels[i, :len(lab)] = xyxy, lab
    check_targets(packed_labels, num_queries, num_classes)
    validate_boxes(corners, packed_labels, "xyxy")
    centers = np.concatenate([(corners[..., :2] + corners[..., 2:]) / 2, corners[..., 2:] - corners[..., :2]], -1)
    return np.concatenate([centers, packed_labels[..., None]], -1)[:, :num_queries].astype(np.float32)


def segmentation_targets(masks, image_size, num_classes):
    """The segmenter's `y`: semantic masks checked against the model.

    Args:
        masks: (S, H, W) integer class ids (DigitScenes.masks: 0 background, digit d -> d + 1).
        image_size: the model's (height, width) (`model.inputs[0].shape[1:3]`); masks must have it.
        num_classes: classes per pixel, background included.

    Returns:
        int32 (S, H, W).

    Raises:
        ValueError: masks of another size (resize them with nearest-neighbour interpolation, as the images), not
            integers, or holding ids outside [0, num_classes), with how many pixels.
    """
    masks = np.asarray(masks)
    height, width = (int(s) for s in image_size)
    if masks.ndim != 3 or masks.shape[1:] != (height, width):
        raise ValueError(f"masks must have shape (scenes, {height}, {width}), the model's image size; received "
                         f"{masks.shape}. Resize masks with nearest-neighbour interpolation as the images are resized "
                         "(bilinear would invent classes between two).")
    if not np.issubdtype(masks.dtype, np.integer):
        raise ValueError(f"masks must hold integer class ids; received dtype {masks.dtype}.")
    bad = (masks < 0) | (masks >= num_classes)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} mask pixel(s) in {int(bad.any(axis=(1, 2)).sum())} scene(s) hold class "
                         f"ids outside [0, {num_classes}) (values {np.unique(masks[bad])[:10].tolist()}); "
                         "num_classes counts the background (class 0).")
    return masks.astype(np.int32)
