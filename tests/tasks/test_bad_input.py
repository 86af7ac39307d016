"""Issue 24 item 10: every kind of bad task input is an error that names it, or documented handling with a count.

(A backbone without a patch grid: tests/tasks/test_task_models.py::test_a_backbone_without_a_patch_grid_is_a_clear_error.)
"""

import json

import numpy as np
import pytest
import tensorflow as tf

from keras_vit.tasks.data.coco import read_coco
from keras_vit.tasks.set_loss import DETRSetLoss
from keras_vit.tasks.targets import detection_targets, segmentation_targets

# Normalized [ymin, xmin, ymax, xmax].
GOOD = np.array([[0.1, 0.2, 0.5, 0.6], [0.5, 0.5, 0.9, 0.7]])


def test_targets_pack_boxes_as_cxcywh_and_keep_empty_scenes():
    targets = detection_targets([GOOD, np.zeros((0, 4))], [np.array([3, 0]), np.array([], int)], num_queries=3,
                                num_classes=10)
    assert targets.shape == (2, 3, 5) and targets.dtype == np.float32
    # [0.1, 0.2, 0.5, 0.6]: center x (0.2 + 0.6) / 2 = 0.4, center y 0.3, width 0.4, height 0.4.
    np.testing.assert_allclose(targets[0, :2], [[0.4, 0.3, 0.4, 0.4, 3], [0.6, 0.7, 0.2, 0.4, 0]], atol=1e-7)
    np.testing.assert_array_equal(targets[0, 2], [0.5, 0.5, 0.5, 0.5, -1])
    np.testing.assert_array_equal(targets[1, :, 4], [-1, -1, -1])  # the empty scene: kept, every row padding
    assert int((targets[..., 4] == -1).all(1).sum()) == 1  # the count the docstring gives


@pytest.mark.parametrize("box, problem", [
    ([0.1, 0.2, 1.3, 0.6], r"1 box\(es\) lie outside the image"),
    ([-0.2, 0.2, 0.5, 0.6], r"1 box\(es\) lie outside the image"),
    ([0.5, 0.2, 0.5, 0.6], r"1 box\(es\) are degenerate"),       # zero height
    ([0.1, 0.6, 0.5, 0.2], r"1 box\(es\) are degenerate"),       # xmax < xmin
])
def test_boxes_outside_the_image_or_degenerate_are_errors(box, problem):
    with pytest.raises(ValueError, match=problem + r".* at indices \(1, 1\)"):
        detection_targets([GOOD, np.array([GOOD[0], box])], [np.array([1, 2]), np.array([1, 2])], 4, 10)


def test_more_objects_than_queries_is_an_error():
    with pytest.raises(ValueError, match=r"1 image\(s\) have more targets than the model has object queries \(2\): "
                                         r"images \[1\] with \[3\] targets"):
        detection_targets([GOOD, np.concatenate([GOOD, GOOD[:1]])], [np.array([1, 2]), np.array([1, 2, 3])], 2, 10)


@pytest.mark.parametrize("labels, problem", [
    (np.array([1, 10]), r"1 label\(s\) are out of range .* \(values \[10\]\); class ids must lie in \[0, 10\)"),
    (np.array([-3, 2]), r"out of range"),
    (np.array([1.5, 2]), r"class ids must be integers"),
])
def test_class_ids_out_of_range_are_errors(labels, problem):
    with pytest.raises(ValueError, match=problem):
        detection_targets([GOOD], [labels], 4, num_classes=10)


def test_the_detr_loss_refuses_bad_targets_in_every_batch():
    # A label equal to num_classes would otherwise train as "no object", silently; a degenerate box would give
    # NaN in GIoU. The matcher checks each batch it sees (inside model.fit too).
    y_pred = {"logits": np.zeros((1, 3, 4), "float32"), "boxes": np.full((1, 3, 4), 0.5, "float32")}
    good_boxes = np.array([[[0.5, 0.5, 0.2, 0.2], [0.3, 0.3, 0.1, 0.1]]], "float32")
    for boxes, labels, problem in (
        (good_boxes, [[0, 3]], r"out of range .*class ids must lie in \[0, 3\)"),
        (np.array([[[0.5, 0.5, 0.0, 0.2], [0.3, 0.3, 0.1, 0.1]]], "float32"), [[0, 1]], "degenerate"),
        (np.array([[[0.95, 0.5, 0.2, 0.2], [0.3, 0.3, 0.1, 0.1]]], "float32"), [[0, 1]], "outside the image"),
    ):
        y_true = {"boxes": boxes, "labels": np.array(labels)}
        with pytest.raises((ValueError, tf.errors.InvalidArgumentError, tf.errors.UnknownError), match=problem):
            DETRSetLoss()(y_true, y_pred)
    # Padding rows are not checked: a zero box with label -1 is fine.
    assert np.isfinite(float(DETRSetLoss()({"boxes": np.zeros((1, 2, 4), "float32"), "labels": np.array([[-1, -1]])},
                                           y_pred)))


def test_masks_of_the_wrong_size_or_with_bad_ids_are_errors():
    masks = np.zeros((2, 32, 32), np.uint8)
    np.testing.assert_array_equal(segmentation_targets(masks, (32, 32), 11), masks)
    with pytest.raises(ValueError, match=r"shape \(scenes, 32, 32\).*received \(2, 64, 64\).*nearest-neighbour"):
        segmentation_targets(np.zeros((2, 64, 64), np.uint8), (32, 32), 11)
    with pytest.raises(ValueError, match="integer class ids"):
        segmentation_targets(masks.astype("float32"), (32, 32), 11)
    masks[1, :2, :3] = 11
    with pytest.raises(ValueError, match=r"6 mask pixel\(s\) in 1 scene\(s\) hold class ids outside \[0, 11\) "
                                         r"\(values \[11\]\)"):
        segmentation_targets(masks, (32, 32), 11)


def test_read_coco_counts_images_without_objects(tmp_path):
    for name in ("a.png", "b.png", "c.png"):
        tf.io.write_file(str(tmp_path / name), tf.io.encode_png(np.zeros((10, 10, 3), np.uint8)))
    annotations = {
        "images": [{"id": i, "file_name": f"{n}.png", "height": 10, "width": 10} for i, n in enumerate("abc", 1)],
        "categories": [{"id": 1, "name": "thing"}],
        # image 1: one box; image 2: only a zero-area box (dropped, counted); image 3: nothing annotated.
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4]},
                        {"id": 2, "image_id": 2, "category_id": 1, "bbox": [1, 1, 0, 4]}],
    }
    (tmp_path / "instances.json").write_text(json.dumps(annotations))
    with pytest.warns(UserWarning, match="'degenerate': 1"):
        data = read_coco(str(tmp_path), str(tmp_path / "instances.json"))
    assert len(data) == 3 and data.report["images_without_objects"] == 2
    targets = detection_targets([e.boxes for e in data.examples], [e.labels for e in data.examples], 2, 1)
    np.testing.assert_allclose(targets[0, 0], [0.3, 0.3, 0.4, 0.4, 0], atol=1e-6)
    assert (targets[1:, :, 4] == -1).all()
