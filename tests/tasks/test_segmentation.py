"""Segmentation's loss and mean IoU against hand computation, the image-skip refinement, the segmenter's training
interface."""

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.tasks.image_skip import ImageSkipRefine
from keras_vit.tasks.segmentation_metrics import (
    confusion_matrix,
    evaluate_segmentation,
    iou_from_confusion,
    mean_iou_metric,
    pixel_cross_entropy,
)

# Three classes on 2 images of 2x3 pixels (rows: true class, columns: predicted), counted by hand:
LABELS = np.array([[[0, 0, 1], [1, 2, 2]], [[0, 0, 0], [2, 2, 1]]])
PREDICTIONS = np.array([[[0, 1, 1], [1, 2, 0]], [[0, 0, 2], [2, 2, 1]]])
#   true 0: predicted 0 at 3 pixels, 1 at 1, 2 at 1  -> [3, 1, 1]
#   true 1: predicted 1 at 3 pixels                   -> [0, 3, 0]
#   true 2: predicted 0 at 1, 2 at 3                  -> [1, 0, 3]
CONFUSION = np.array([[3, 1, 1], [0, 3, 0], [1, 0, 3]])
# IoU = TP / (row + column - TP): 3 / (5 + 4 - 3), 3 / (3 + 4 - 3), 3 / (4 + 4 - 3)
IOU = np.array([3 / 6, 3 / 4, 3 / 5])


def one_hot_logits(predictions, num_classes=3):
    return np.eye(num_classes, dtype="float32")[predictions] * 5.0


def test_confusion_matrix_and_iou_match_hand_counts():
    confusion = confusion_matrix(LABELS, PREDICTIONS, 3)
    np.testing.assert_array_equal(confusion, CONFUSION)
    per_class, mean = iou_from_confusion(confusion)
    np.testing.assert_allclose(per_class, IOU)
    assert mean == pytest.approx(IOU.mean())


def test_a_class_never_seen_nor_predicted_has_no_iou_and_leaves_the_mean():
    per_class, mean = iou_from_confusion(np.pad(CONFUSION, (0, 1)))  # a fourth class with no pixels
    assert np.isnan(per_class[3])
    assert mean == pytest.approx(IOU.mean())


def test_the_keras_metric_gives_the_hand_computed_mean_over_batches():
    metric = mean_iou_metric(3)
    for image in range(2):  # one image per batch: the metric accumulates one confusion matrix
        metric.update_state(LABELS[image:image + 1], one_hot_logits(PREDICTIONS[image:image + 1]))
    assert float(metric.result()) == pytest.approx(IOU.mean(), abs=1e-6)
    assert metric.name == "mean_iou"


def test_whole_set_evaluation_over_batches():
    class Fixed(keras.Model):  # "predicts" the logits it is given
        def call(self, x):
            return x

    batches = [(one_hot_logits(PREDICTIONS[i:i + 1]), LABELS[i:i + 1]) for i in range(2)]
    result = evaluate_segmentation(Fixed(), batches)
    np.testing.assert_array_equal(result["confusion"], CONFUSION)
    np.testing.assert_allclose(result["per_class_iou"], IOU)
    assert result["mean_iou"] == pytest.approx(IOU.mean()) and result["pixels"] == 12


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="same shape"):
        confusion_matrix(LABELS, PREDICTIONS[:1], 3)
    with pytest.raises(ValueError, match="outside \\[0, 2\\)"):
        confusion_matrix(LABELS, PREDICTIONS, 2)
    with pytest.raises(ValueError, match="no batches"):
        evaluate_segmentation(keras.Sequential([keras.layers.Identity()]), [])


def test_pixel_cross_entropy_is_the_mean_over_pixels():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 4, 5)).astype("float32")
    labels = rng.integers(0, 5, size=(2, 3, 4))
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -np.take_along_axis(log_softmax, labels[..., None], -1).mean()
    assert float(pixel_cross_entropy()(labels, logits)) == pytest.approx(expected, rel=1e-5)


def test_foreground_weighted_cross_entropy_weighs_object_pixels():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 3, 4, 5)).astype("float32")
    labels = rng.integers(0, 5, size=(2, 3, 4))
    labels[0, 0, :2] = 0  # some background pixels, surely
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    per_pixel = -np.take_along_axis(log_softmax, labels[..., None], -1)[..., 0]
    expected = (per_pixel * np.where(labels > 0, 3.0, 1.0)).mean()  # weights 3 (objects) and 1, mean over pixels
    loss = pixel_cross_entropy(foreground_weight=3.0)
    assert float(loss(labels, logits)) == pytest.approx(expected, rel=1e-5)
    assert float(type(loss).from_config(loss.get_config())(labels, logits)) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="foreground_weight"):
        pixel_cross_entropy(foreground_weight=0)


def test_image_skip_refine_starts_as_the_upsampled_logits():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, 8, 8, 1)).astype("float32")
    logits = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(ImageSkipRefine(num_classes=3)((logits, images)), logits, atol=1e-6)
    # coarse logits constant over the image stay that constant at full resolution
    coarse = np.broadcast_to(np.array([1.0, -2.0, 0.5], "float32"), (2, 2, 2, 3))
    refined = ImageSkipRefine(num_classes=3)((coarse, images))
    assert refined.shape == (2, 8, 8, 3)
    np.testing.assert_allclose(refined, np.broadcast_to(coarse[:, :1, :1], (2, 8, 8, 3)), atol=1e-6)
    with pytest.raises(ValueError, match="num_layers"):
        ImageSkipRefine(num_layers=0)


TINY = keras_vit.get_spec("seg_vit_ti16_digits").tiny_spec()


def test_segmenter_with_the_image_skip_outputs_full_resolution_logits_and_round_trips(tmp_path):
    model = keras_vit.create(TINY, refine={"name": "image_skip_refine", "hidden_dim": 4})
    images = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    assert model(images).shape == (2, 32, 32, 11)
    assert model.get_layer("refine").hidden_dim == 4
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(reloaded(images), model(images), atol=1e-5)
    with pytest.raises(ValueError, match="logits_and_image"):  # a head of another interface does not fit the slot
        keras_vit.create(TINY, refine="fpn_segmentation_head")


def test_context_layers_add_their_convs_and_norms_and_round_trip(tmp_path):
    context = {"name": "fpn_segmentation_head", "context_dilations": [1, 2]}
    plain, model = keras_vit.create(TINY), keras_vit.create(TINY, head=context)
    width = TINY.model["hidden_dim"]
    # per context layer: a 3x3 conv without bias (9 * width * width) and a GroupNorm's scale and offset (2 * width)
    assert model.count_params() - plain.count_params() == 2 * (9 * width * width + 2 * width)
    images = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert list(reloaded.get_layer("head").context_dilations) == [1, 2]
    np.testing.assert_allclose(reloaded(images), model(images), atol=1e-5)


def test_a_segmenter_larger_than_its_backbone_resizes_in_and_out(tmp_path):
    model = keras_vit.create(TINY, image_size=64)  # the tiny backbone takes 32x32
    native = keras_vit.create(TINY)
    native.set_weights(model.get_weights())
    images = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")
    expected = keras.ops.image.resize(native(keras.ops.image.resize(images, (32, 32))), (64, 64))
    np.testing.assert_allclose(model(images), expected, atol=1e-5)
    refined = keras_vit.create(TINY, image_size=64, refine="image_skip_refine")
    assert refined(images).shape == (2, 64, 64, 11) and keras_vit.preprocessing(refined).image_size == (64, 64)
    refined.save(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "m.keras")(images), refined(images), atol=1e-5)


def test_segmenter_publishes_its_loss_metric_and_targets():
    model = keras_vit.create(TINY)
    arguments = model.compile_arguments()
    assert arguments["loss"].get_config()["from_logits"]
    assert [m.name for m in arguments["metrics"]] == ["mean_iou"] and arguments["metrics"][0].num_classes == 11
    weighted = keras_vit.create(TINY, foreground_weight=4.0).compile_arguments()["loss"]
    assert weighted.get_config()["foreground_weight"] == 4.0
    mask = np.arange(6, dtype="uint8").reshape(2, 3)
    target = model.targets_from_example({"mask": mask})
    np.testing.assert_array_equal(target, mask) and str(target.dtype) == "int32"


def test_a_missing_backbone_checkpoint_names_the_command_that_writes_it(tmp_path):
    path = tmp_path / "mnist_vit_p8" / "model.keras"
    with pytest.raises(FileNotFoundError, match="keras-vit train --recipe mnist_vit_p8"):
        keras_vit.create(TINY, backbone_weights=str(path))


def test_a_backbone_shaped_by_its_checkpoint_is_saved_as_built(tmp_path):
    # The classifier's width and depth are not in the task spec: they follow the checkpoint, and the saved segmenter
    # must rebuild them without it.
    classifier = keras_vit.create("vit_ti16", image_size=32, patch_size=8, hidden_dim=16, num_layers=1, num_heads=2,
                                  intermediate_dim=32, num_classes=10, num_channels=1)
    classifier.save(tmp_path / "classifier.keras")
    model = keras_vit.create(TINY, backbone={"name": "vit_ti16", "image_size": 32, "patch_size": 8},
                             backbone_weights=str(tmp_path / "classifier.keras"))
    assert model.get_config()["backbone"]["hidden_dim"] == 16 and model.get_config()["backbone_weights"] is None
    model.save(tmp_path / "segmenter.keras")
    reloaded = keras.saving.load_model(tmp_path / "segmenter.keras")
    images = np.random.default_rng(0).normal(size=(1, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(reloaded(images), model(images), atol=1e-5)
