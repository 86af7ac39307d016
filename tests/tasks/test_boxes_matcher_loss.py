"""Boxes, Hungarian matching and DETR's set loss, against hand-computed values and brute force."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_vit.tasks import (
    DETRSetLoss,
    assign,
    check_targets,
    cxcywh_to_xyxy,
    generalized_iou,
    iou,
    matching_cost,
    pairwise_generalized_iou,
    validate_boxes,
    xyxy_to_cxcywh,
)

# (box a, box b, IoU, GIoU) in xyxy, each value worked out by hand in the comment.
HAND_BOXES = [
    # identical: intersection = union = enclosing.
    ([0.1, 0.2, 0.5, 0.6], [0.1, 0.2, 0.5, 0.6], 1.0, 1.0),
    # nested: inter 0.5*0.5 = 0.25, union 1, enclosing 1 -> 0.25 and 0.25.
    ([0.0, 0.0, 1.0, 1.0], [0.25, 0.25, 0.75, 0.75], 0.25, 0.25),
    # disjoint: inter 0, union 0.04 + 0.16 = 0.2, enclosing [0,0,1,1] = 1 -> GIoU = 0 - (1 - 0.2) / 1.
    ([0.0, 0.0, 0.2, 0.2], [0.6, 0.6, 1.0, 1.0], 0.0, -0.8),
    # partial: inter 0.2*0.2 = 0.04, union 0.16 + 0.16 - 0.04 = 0.28, enclosing 0.6*0.6 = 0.36
    # -> IoU 1/7, GIoU 1/7 - 0.08/0.36 = 1/7 - 2/9 = -5/63.
    ([0.0, 0.0, 0.4, 0.4], [0.2, 0.2, 0.6, 0.6], 1 / 7, -5 / 63),
    # side by side, touching: inter 0, union 0.5, enclosing 0.5 -> 0 and 0.
    ([0.0, 0.0, 0.5, 0.5], [0.5, 0.0, 1.0, 0.5], 0.0, 0.0),
]


@pytest.mark.parametrize("a, b, expected_iou, expected_giou", HAND_BOXES)
def test_iou_and_giou_on_hand_computed_boxes(a, b, expected_iou, expected_giou):
    a, b = np.array(a, "float32"), np.array(b, "float32")
    for first, second in [(a, b), (b, a)]:  # both are symmetric
        np.testing.assert_allclose(keras.ops.convert_to_numpy(iou(first, second)), expected_iou, atol=1e-6)
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(generalized_iou(first, second)), expected_giou, atol=1e-6
        )


def test_pairwise_giou_is_every_pair():
    first = np.array([[row[0] for row in HAND_BOXES]], "float32")  # (1, 5, 4)
    second = np.array([[row[1] for row in HAND_BOXES][:3]], "float32")  # (1, 3, 4)
    matrix = keras.ops.convert_to_numpy(pairwise_generalized_iou(first, second))
    assert matrix.shape == (1, 5, 3)
    for i, j in itertools.product(range(5), range(3)):
        assert matrix[0, i, j] == pytest.approx(float(generalized_iou(first[0, i], second[0, j])), abs=1e-6)
    for i in range(3):
        assert matrix[0, i, i] == pytest.approx(HAND_BOXES[i][3], abs=1e-6)


def test_box_format_conversions():
    # center (0.5, 0.5), size 0.2 x 0.4 -> corners 0.5 -+ 0.1 and 0.5 -+ 0.2.
    xyxy = keras.ops.convert_to_numpy(cxcywh_to_xyxy(np.array([[0.5, 0.5, 0.2, 0.4]], "float32")))
    np.testing.assert_allclose(xyxy, [[0.4, 0.3, 0.6, 0.7]], atol=1e-7)
    back = keras.ops.convert_to_numpy(xyxy_to_cxcywh(xyxy))
    np.testing.assert_allclose(back, [[0.5, 0.5, 0.2, 0.4]], atol=1e-7)


def test_validate_boxes_names_count_and_indices():
    boxes = np.array([[[0.1, 0.1, 0.5, 0.5], [0.2, 0.2, 0.2, 0.9], [0.0, 0.0, 0.0, 0.0]],
                      [[0.5, 0.5, 1.2, 0.9], [0.3, 0.3, 0.2, 0.4], [0.1, 0.1, 0.9, 0.9]]], "float32")
    labels = np.array([[1, 2, -1], [0, 3, 4]])
    with pytest.raises(ValueError) as error:
        validate_boxes(boxes, labels, box_format="xyxy")
    message = str(error.value)
    # (1, 0) leaves the image; (0, 1) has x2 == x1 and (1, 1) x2 < x1; the padding row (0, 2) is not checked.
    assert "1 box(es) lie outside the image" in message and "(1, 0)" in message
    assert "2 box(es) are degenerate" in message and "(0, 1), (1, 1)" in message
    assert "(0, 2)" not in message
    validate_boxes(boxes[:, :1][:1], labels[:1, :1], box_format="xyxy")  # a good box passes
    # cxcywh: center 0.9 with width 0.4 reaches x2 = 1.1.
    with pytest.raises(ValueError, match="1 box"):
        validate_boxes(np.array([[0.9, 0.5, 0.4, 0.2]]))


def _brute_force(cost, real_columns):
    """Minimum total cost over every injective map of real targets to queries: (cost, target of each query)."""
    num_queries = cost.shape[0]
    best = (np.inf, None)
    for queries in itertools.permutations(range(num_queries), len(real_columns)):
        total = sum(cost[q, t] for q, t in zip(queries, real_columns))
        if total < best[0]:
            matches = np.full(num_queries, -1)
            matches[list(queries)] = real_columns
            best = (total, matches)
    return best


@pytest.mark.parametrize("seed", range(20))
def test_assign_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    cost = rng.normal(size=(2, 5, 4)).astype("float32")
    labels = rng.integers(0, 3, size=(2, 4))
    labels[0, rng.integers(0, 4)] = -1  # one padding column in image 0, anywhere
    labels[1, :] = [2, -1, 0, 1] if seed % 2 else [-1, -1, -1, -1]  # image 1: 3 targets, or none
    matches = assign(tf.constant(cost), tf.constant(labels)).numpy()
    for image in range(2):
        real = np.flatnonzero(labels[image] >= 0)
        best_cost, best_matches = _brute_force(cost[image], real)
        got = sum(cost[image, q, t] for q, t in enumerate(matches[image]) if t >= 0)
        assert got == pytest.approx(best_cost if real.size else 0.0, abs=1e-5)
        if real.size:
            np.testing.assert_array_equal(matches[image], best_matches)  # random costs: the optimum is unique
        else:
            assert (matches[image] == -1).all()


def _numpy_giou(a, b):
    """Independent reference: xyxy boxes, plain NumPy, elementwise."""
    inter = np.clip(np.minimum(a[..., 2:], b[..., 2:]) - np.maximum(a[..., :2], b[..., :2]), 0, None).prod(-1)
    area = lambda box: (box[..., 2] - box[..., 0]) * (box[..., 3] - box[..., 1])  # noqa: E731
    union = area(a) + area(b) - inter
    hull = (np.maximum(a[..., 2:], b[..., 2:]) - np.minimum(a[..., :2], b[..., :2])).prod(-1)
    return inter / union - (hull - union) / hull


def _to_xyxy(boxes):
    return np.concatenate([boxes[..., :2] - boxes[..., 2:] / 2, boxes[..., :2] + boxes[..., 2:] / 2], -1)


def _random_problem(rng, batch=2, queries=4, targets=3, classes=3):
    logits = rng.normal(size=(batch, queries, classes + 1)).astype("float32")
    boxes = np.concatenate([rng.uniform(0.3, 0.7, (batch, queries, 2)), rng.uniform(0.1, 0.4, (batch, queries, 2))],
                           -1).astype("float32")
    target_boxes = np.concatenate([rng.uniform(0.3, 0.7, (batch, targets, 2)),
                                   rng.uniform(0.1, 0.4, (batch, targets, 2))], -1).astype("float32")
    labels = rng.integers(0, classes, (batch, targets))
    labels[0, -1] = -1
    target_boxes[0, -1] = 0.0  # padding rows hold zeros, as a padded dataset gives them
    return logits, boxes, target_boxes, labels


def _numpy_detr_loss(logits, boxes, target_boxes, labels, eos=0.1):
    """DETR's loss from its definition: brute-force matching on the DETR cost, NumPy throughout."""
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    log_probabilities = np.log(probabilities)
    num_classes = logits.shape[-1] - 1
    num_boxes = max((labels >= 0).sum(), 1)
    weighted_ce, weights, l1, giou_loss = 0.0, 0.0, 0.0, 0.0
    for b in range(len(logits)):
        real = np.flatnonzero(labels[b] >= 0)
        cost = np.zeros((logits.shape[1], labels.shape[1]))
        for q, t in itertools.product(range(logits.shape[1]), real):
            giou = _numpy_giou(_to_xyxy(boxes[b, q]), _to_xyxy(target_boxes[b, t]))
            cost[q, t] = -probabilities[b, q, labels[b, t]] + 5 * np.abs(boxes[b, q] - target_boxes[b, t]).sum() - 2 * giou
        _, matches = _brute_force(cost, real)
        for q, t in enumerate(matches):
            target_class, weight = (labels[b, t], 1.0) if t >= 0 else (num_classes, eos)
            weighted_ce += -weight * log_probabilities[b, q, target_class]
            weights += weight
            if t >= 0:
                l1 += np.abs(boxes[b, q] - target_boxes[b, t]).sum()
                giou_loss += 1 - _numpy_giou(_to_xyxy(boxes[b, q]), _to_xyxy(target_boxes[b, t]))
    return weighted_ce / weights + 5 * l1 / num_boxes + 2 * giou_loss / num_boxes


def test_matching_cost_matches_numpy():
    logits, boxes, target_boxes, labels = _random_problem(np.random.default_rng(0))
    cost = keras.ops.convert_to_numpy(matching_cost(logits, boxes, target_boxes, labels))
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    for b, q, t in itertools.product(range(2), range(4), range(3)):
        if labels[b, t] < 0:
            assert np.isfinite(cost[b, q, t])
            continue
        giou = _numpy_giou(_to_xyxy(boxes[b, q]), _to_xyxy(target_boxes[b, t]))
        expected = -probabilities[b, q, labels[b, t]] + 5 * np.abs(boxes[b, q] - target_boxes[b, t]).sum() - 2 * giou
        assert cost[b, q, t] == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("seed", range(5))
def test_loss_matches_numpy_reference(seed):
    logits, boxes, target_boxes, labels = _random_problem(np.random.default_rng(seed))
    value = DETRSetLoss()({"boxes": target_boxes, "labels": labels}, {"logits": logits, "boxes": boxes})
    assert float(value) == pytest.approx(_numpy_detr_loss(logits, boxes, target_boxes, labels), rel=1e-5)
    packed = np.concatenate([target_boxes, labels[..., None]], -1).astype("float32")
    assert float(DETRSetLoss()(packed, {"logits": logits, "boxes": boxes})) == pytest.approx(float(value), rel=1e-6)


def test_scene_without_objects():
    logits = np.random.default_rng(1).normal(size=(2, 3, 4)).astype("float32")
    boxes = np.full((2, 3, 4), 0.5, "float32")
    y_true = {"boxes": np.zeros((2, 2, 4), "float32"), "labels": np.full((2, 2), -1)}
    terms = DETRSetLoss().components(y_true, {"logits": logits, "boxes": boxes})
    assert float(terms["l1"]) == 0.0 and float(terms["giou"]) == 0.0
    # Every query's target is "no object" (index 3), all weighted 0.1: the weighted mean is the plain mean.
    log_probabilities = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    assert float(terms["class"]) == pytest.approx(-log_probabilities[..., 3].mean(), rel=1e-5)


def test_perfect_prediction_is_the_minimum():
    # One image, 3 queries, 2 objects of classes 0 and 2 out of 3; queries 2 and 0 predict them exactly.
    target_boxes = np.array([[[0.3, 0.3, 0.2, 0.2], [0.7, 0.6, 0.3, 0.4]]], "float32")
    labels = np.array([[0, 2]])
    boxes = np.array([[[0.7, 0.6, 0.3, 0.4], [0.5, 0.5, 0.1, 0.1], [0.3, 0.3, 0.2, 0.2]]], "float32")
    logits = 5.0 * np.eye(4, dtype="float32")[[2, 3, 0]][None]  # right class, or "no object" for query 1
    loss = DETRSetLoss()
    y_true, y_pred = {"boxes": target_boxes, "labels": labels}, {"logits": logits, "boxes": boxes}
    terms = loss.components(y_true, y_pred)
    assert float(terms["l1"]) == pytest.approx(0.0, abs=1e-6)
    assert float(terms["giou"]) == pytest.approx(0.0, abs=1e-6)
    # Each query's cross-entropy is log(1 + 3 e^-5), whatever its weight (1, 0.1, 1), so the weighted mean is too.
    assert float(terms["class"]) == pytest.approx(np.log1p(3 * np.exp(-5.0)), rel=1e-4)
    best = float(loss(y_true, y_pred))
    rng = np.random.default_rng(0)
    for _ in range(5):
        moved = boxes + rng.normal(scale=0.02, size=boxes.shape).astype("float32")
        assert float(loss(y_true, {"logits": logits, "boxes": moved})) > best
    swapped = logits[:, [2, 1, 0]]  # the class heads exchanged: the matching cannot undo that for the boxes
    assert float(loss(y_true, {"logits": swapped, "boxes": boxes})) > best


def test_gradients_are_finite():
    rng = np.random.default_rng(2)
    logits = tf.Variable(rng.normal(size=(2, 4, 3)).astype("float32"))
    raw_boxes = tf.Variable(rng.normal(scale=3.0, size=(2, 4, 4)).astype("float32"))
    # Image 1 has no objects; image 0 a padding row of zeros.
    y_true = {"boxes": np.array([[[0.4, 0.4, 0.2, 0.3], [0, 0, 0, 0]], [[0, 0, 0, 0]] * 2], "float32"),
              "labels": np.array([[1, -1], [-1, -1]])}
    with tf.GradientTape() as tape:
        boxes = tf.sigmoid(raw_boxes)
        aux = {"logits": logits * 2.0, "boxes": boxes[:, ::-1]}
        value = DETRSetLoss()(y_true, {"logits": logits, "boxes": boxes, "aux_outputs": [aux]})
    gradients = tape.gradient(value, [logits, raw_boxes])
    for gradient in gradients:
        assert np.all(np.isfinite(gradient.numpy()))
        assert np.abs(gradient.numpy()).sum() > 0


def test_aux_losses_add_up_each_matched_separately():
    rng = np.random.default_rng(3)
    logits, boxes, target_boxes, labels = _random_problem(rng)
    aux = [_random_problem(rng)[:2] for _ in range(2)]
    aux = [{"logits": a_logits, "boxes": a_boxes} for a_logits, a_boxes in aux]
    y_true = {"boxes": target_boxes, "labels": labels}
    loss = DETRSetLoss()
    total = float(loss(y_true, {"logits": logits, "boxes": boxes, "aux_outputs": aux}))
    expected = _numpy_detr_loss(logits, boxes, target_boxes, labels) + sum(
        _numpy_detr_loss(a["logits"], a["boxes"], target_boxes, labels) for a in aux
    )
    assert total == pytest.approx(expected, rel=1e-5)
    assert set(loss.components(y_true, {"logits": logits, "boxes": boxes, "aux_outputs": aux})) == {
        "class", "l1", "giou", "class_0", "l1_0", "giou_0", "class_1", "l1_1", "giou_1"
    }


def test_loss_in_a_graph():
    logits, boxes, target_boxes, labels = _random_problem(np.random.default_rng(4))
    loss = DETRSetLoss()
    graph = tf.function(lambda t, p: loss(t, p))
    value = graph({"boxes": target_boxes, "labels": labels}, {"logits": logits, "boxes": boxes})
    assert float(value) == pytest.approx(_numpy_detr_loss(logits, boxes, target_boxes, labels), rel=1e-5)


def test_too_many_targets_is_a_clear_error():
    labels = np.array([[0, 1, 2], [0, -1, -1]])
    with pytest.raises(ValueError, match=r"1 image\(s\) have more targets than the model has object queries \(2\)"):
        check_targets(labels, num_queries=2)
    with pytest.raises(ValueError, match="out of range"):
        check_targets(np.array([[0, 5]]), num_queries=2, num_classes=3)
    check_targets(labels, num_queries=3, num_classes=3)
    y_true = {"boxes": np.full((2, 3, 4), 0.5, "float32"), "labels": labels}
    y_pred = {"logits": np.zeros((2, 2, 4), "float32"), "boxes": np.full((2, 2, 4), 0.5, "float32")}
    with pytest.raises(Exception, match=r"images \[0\] with \[3\] targets"):
        DETRSetLoss()(y_true, y_pred)


def test_bad_arguments():
    with pytest.raises(ValueError, match="eos_coef"):
        DETRSetLoss(eos_coef=-1)
    with pytest.raises(ValueError, match="packed tensor"):
        DETRSetLoss()(np.zeros((1, 2, 4), "float32"), {"logits": np.zeros((1, 2, 3)), "boxes": np.zeros((1, 2, 4))})
    with pytest.raises(ValueError, match="'logits'"):
        DETRSetLoss()(np.zeros((1, 2, 5), "float32"), {"boxes": np.zeros((1, 2, 4))})


def test_get_config_round_trip():
    loss = DETRSetLoss(eos_coef=0.2, class_weight=2.0, bbox_weight=3.0, giou_weight=1.5, name="set")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(restored) is DETRSetLoss and restored.get_config() == loss.get_config()
    assert restored.get_config()["eos_coef"] == 0.2 and restored.name == "set"
    logits, boxes, target_boxes, labels = _random_problem(np.random.default_rng(5))
    args = ({"boxes": target_boxes, "labels": labels}, {"logits": logits, "boxes": boxes})
    assert float(restored(*args)) == pytest.approx(float(loss(*args)), rel=1e-6)
    assert float(restored(*args)) != pytest.approx(float(DETRSetLoss()(*args)), rel=1e-3)


class TinyDetector(keras.Model):
    """The few lines a detector needs: Keras 3's compile(loss=...) would split a dict output per key."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.set_loss = DETRSetLoss()

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return self.set_loss(y, y_pred) + sum(self.losses)


def test_fits_through_compute_loss():
    inputs = keras.Input((8,))
    logits = keras.layers.Reshape((3, 4))(keras.layers.Dense(12)(inputs))
    boxes = keras.layers.Reshape((3, 4))(keras.layers.Dense(12, activation="sigmoid")(inputs))
    outputs = {"logits": logits, "boxes": boxes, "aux_outputs": [{"logits": logits, "boxes": boxes}]}
    model = TinyDetector(inputs, outputs)
    model.compile(keras.optimizers.Adam(0.05), jit_compile=False)  # numpy_function cannot be XLA-compiled
    # Packed y_true: one object of class 1 per image and a padding row.
    y = np.array([[[0.4, 0.5, 0.2, 0.3, 1], [0, 0, 0, 0, -1]]] * 4, "float32")
    x = np.random.default_rng(0).random((4, 8)).astype("float32")
    before = float(model.set_loss(y, model(x)))
    history = model.fit(x, y, epochs=5, batch_size=4, verbose=0).history["loss"]
    assert np.all(np.isfinite(history))
    assert float(model.set_loss(y, model(x))) < before  # it learns: the loss is wired to the gradients
