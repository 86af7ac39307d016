"""COCO mAP through pycocotools and mean IoU, on cases whose answers are known by construction."""

import numpy as np
import pytest

from keras_vit.tasks.evaluate import coco_detection_metrics, confusion_matrix, segmentation_metrics

pytest.importorskip("pycocotools")

# Two images of 100 x 100 pixels; boxes normalized [ymin, xmin, ymax, xmax].
TRUTH = [
    (np.array([[0.1, 0.1, 0.5, 0.5], [0.6, 0.6, 0.9, 0.8]]), np.array([0, 1])),
    (np.array([[0.2, 0.3, 0.7, 0.9]]), np.array([0])),
]


def test_perfect_predictions_give_ap_one():
    predictions = [(boxes, np.full(len(labels), 0.9), labels) for boxes, labels in TRUTH]
    metrics = coco_detection_metrics(TRUTH, predictions, image_sizes=(100, 100))
    assert metrics["AP"] == pytest.approx(1.0) and metrics["AP50"] == pytest.approx(1.0)
    assert metrics["AP75"] == pytest.approx(1.0)


def test_one_of_two_objects_missed():
    # One class, two objects, one found exactly: precision 1 up to recall 0.5, nothing beyond. COCO averages the
    # interpolated precision at the 101 recalls 0, 0.01, ..., 1: 51 of them (0 to 0.50) have precision 1.
    truth = [(np.array([[0.1, 0.1, 0.4, 0.4], [0.5, 0.5, 0.9, 0.9]]), np.array([3, 3]))]
    predictions = [(np.array([[0.1, 0.1, 0.4, 0.4]]), np.array([0.8]), np.array([3]))]
    metrics = coco_detection_metrics(truth, predictions, image_sizes=(100, 100))
    for name in ("AP", "AP50", "AP75"):
        assert metrics[name] == pytest.approx(51 / 101)


def test_a_shifted_box_passes_ap50_and_fails_ap75():
    # A 40 x 40 px box shifted 8 px sideways: intersection 40 * 32 = 1280, union 2 * 1600 - 1280 = 1920,
    # IoU 2/3: a match at the thresholds 0.50, 0.55, 0.60, 0.65 and a miss at 0.70 ... 0.95. AP = 4 / 10.
    truth = [(np.array([[0.2, 0.2, 0.6, 0.6]]), np.array([0]))]
    predictions = [(np.array([[0.2, 0.28, 0.6, 0.68]]), np.array([0.7]), np.array([0]))]
    metrics = coco_detection_metrics(truth, predictions, image_sizes=(100, 100))
    assert metrics["AP50"] == pytest.approx(1.0)
    assert metrics["AP75"] == pytest.approx(0.0)
    assert metrics["AP"] == pytest.approx(0.4)


def test_a_wrong_class_scores_zero_and_a_missing_class_is_left_out_of_the_mean():
    # Class 0 found perfectly; class 1's only object predicted as class 2, which has no ground truth: the mean
    # over the classes with ground truth (0 and 1) is (1 + 0) / 2.
    truth = [(np.array([[0.1, 0.1, 0.5, 0.5], [0.6, 0.6, 0.9, 0.9]]), np.array([0, 1]))]
    predictions = [(truth[0][0], np.array([0.9, 0.9]), np.array([0, 2]))]
    assert coco_detection_metrics(truth, predictions)["AP"] == pytest.approx(0.5)


def test_no_detections_and_no_objects():
    empty = (np.zeros((0, 4)), np.zeros(0), np.zeros(0))
    assert coco_detection_metrics(TRUTH, [empty, empty])["AP"] == 0.0
    assert np.isnan(coco_detection_metrics([(np.zeros((0, 4)), np.zeros(0))], [empty])["AP"])


def test_bad_class_ids_and_lengths_are_clear_errors():
    predictions = [(boxes, np.full(len(labels), 0.9), labels + 1) for boxes, labels in TRUTH]
    with pytest.raises(ValueError, match="out of range.*1-based: subtract 1"):
        coco_detection_metrics(TRUTH, predictions, num_classes=2)
    with pytest.raises(ValueError, match="one entry per image"):
        coco_detection_metrics(TRUTH, predictions[:1])


def test_mean_iou_on_a_hand_computed_confusion_matrix():
    # Rows true, columns predicted. Class 0: TP 5, FN 1, FP 2 -> 5 / 8. Class 1: TP 3, FN 2, FP 1 -> 3 / 6.
    # Class 2: TP 0, FN 0, FP 0 -> absent, no IoU. Class 3: TP 4, FN 1 (predicted 0), FP 1 -> 4 / 6.
    confusion = np.array([[5, 1, 0, 0],
                          [1, 3, 0, 1],
                          [0, 0, 0, 0],
                          [1, 0, 0, 4]])
    metrics = segmentation_metrics(confusion)
    np.testing.assert_allclose(metrics["iou"][[0, 1, 3]], [5 / 8, 3 / 6, 4 / 6])
    assert np.isnan(metrics["iou"][2])
    assert metrics["mean_iou"] == pytest.approx((5 / 8 + 3 / 6 + 4 / 6) / 3)
    assert metrics["pixel_accuracy"] == pytest.approx(12 / 16)  # 16 pixels, 12 on the diagonal


def test_confusion_matrix_counts_pixels():
    labels = np.array([[[0, 0, 1], [2, 2, 1]]])
    predictions = np.array([[[0, 1, 1], [2, 0, 1]]])
    expected = np.zeros((3, 3), int)
    for t, p in [(0, 0), (0, 1), (1, 1), (2, 2), (2, 0), (1, 1)]:
        expected[t, p] += 1
    np.testing.assert_array_equal(confusion_matrix(labels, predictions, 3), expected)
    with pytest.raises(ValueError, match="same shape"):
        confusion_matrix(labels, predictions[..., :2], 3)
    with pytest.raises(ValueError, match=r"1 pixel\(s\) of labels hold class ids outside \[0, 3\)"):
        confusion_matrix(np.array([[0, 3]]), np.array([[0, 0]]), 3)
