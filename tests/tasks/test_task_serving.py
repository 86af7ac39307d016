"""The task models' SavedModels serve with TensorFlow alone (a process that cannot import keras_vit) and follow their
contracts: the TF Object Detection API's outputs for DETR, class ids per pixel at the input's size for the segmenter.
Expected values come from the eager Keras model with the post-processing written out here in NumPy.

Exporting takes 15-30 s per model on 2 cores, so the tests that export are marked slow; the post-processing and the
label map are checked in the default suite without a model."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import keras_vit
from keras_vit.tasks.serving import detections, label_map_text
from keras_vit.testing import randomize_weights

HERE = Path(__file__).resolve().parent
# Batches of uint8 images: the model's own 32 x 32, and sizes it must resize from (boxes normalized to them).
SIZES = ((1, 32, 32), (2, 45, 70), (1, 19, 23))
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
slow = pytest.mark.slow


def _tiny(name, seed):
    return randomize_weights(keras_vit.create(keras_vit.get_spec(name).tiny_spec()), scale=0.5, seed=seed)


def _model_input(images):
    """uint8 images -> the model's input, by hand: bilinear resize to 32 x 32, [0, 255] -> [-1, 1]."""
    pixels = tf.image.resize(tf.cast(images, tf.float32), (32, 32), method="bilinear", antialias=False).numpy()
    return (pixels / 255.0 - 0.5) / 0.5


def _detr_reference(model, images):
    out = model(_model_input(images), training=False)
    logits, boxes = np.asarray(out["logits"], "float64")[:, -1], np.asarray(out["boxes"], "float64")[:, -1]
    exp = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities = (exp / exp.sum(-1, keepdims=True))[..., :-1]  # the last class is "no object"
    scores, classes = probabilities.max(-1), probabilities.argmax(-1)
    order = np.argsort(-scores, axis=-1, kind="stable")
    cx, cy, w, h = np.moveaxis(boxes, -1, 0)
    corners = np.clip(np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], -1), 0, 1)
    take = lambda a: np.take_along_axis(a, order, axis=1)  # noqa: E731
    return {"detection_boxes": np.take_along_axis(corners, order[..., None], axis=1),
            "detection_scores": take(scores), "detection_classes": take(classes) + 1.0,
            "num_detections": np.full(len(images), boxes.shape[1], "float64")}


def _segmenter_reference(model, images):
    logits = np.asarray(model(_model_input(images), training=False), "float32")
    resized = tf.image.resize(logits, images.shape[1:3], method="bilinear").numpy()
    return resized.argmax(-1)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("task_serving")
    detector, segmenter = _tiny("detr_vit_ti16_digits", 1), _tiny("seg_vit_ti16_digits", 3)
    labels = [f"digit {k}" for k in range(10)]
    exports = {"detr": keras_vit.export(detector, root / "models" / "detr", labels=labels, jit_compile=False,
                                        verbose=False),
               "seg": keras_vit.export(segmenter, root / "models" / "seg", jit_compile=False, verbose=False)}
    rng = np.random.default_rng(0)
    requests, expected = [], {}
    for i, (batch, height, width) in enumerate(SIZES):
        images = rng.integers(0, 256, size=(batch, height, width, 3), dtype=np.uint8)
        np.save(root / f"images_{i}.npy", images)
        for name, model, reference in (("detr", detector, _detr_reference), ("seg", segmenter, _segmenter_reference)):
            requests.append({"path": exports[name].path, "input": str(root / f"images_{i}.npy"),
                             "output": str(root / f"{name}_{i}.npz")})
            expected[name, i] = reference(model, images)
    (root / "requests.json").write_text(json.dumps(requests))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    process = subprocess.run([sys.executable, str(HERE / "task_serving_client.py"), str(root / "requests.json")],
                             cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stderr[-4000:]
    client = json.loads(process.stdout.strip().splitlines()[-1])
    got = {(name, i): dict(np.load(root / f"{name}_{i}.npz")) for name in exports for i in range(len(SIZES))}
    return {"exports": exports, "expected": expected, "got": got, "client": client, "detector": detector}


@slow
def test_the_serving_process_never_imported_keras_vit(served):
    assert served["client"]["keras_vit_modules"] == []


@slow
@pytest.mark.parametrize("index", range(len(SIZES)))
def test_detector_follows_the_object_detection_api_contract(served, index):
    got, expected = served["got"]["detr", index], served["expected"]["detr", index]
    batch = SIZES[index][0]
    assert "uint8" in str(got["input_spec"]) and "input_tensor" in str(got["input_spec"])
    assert got["detection_boxes"].shape == (batch, 4, 4) and got["detection_boxes"].dtype == np.float32
    for key in ("detection_scores", "detection_classes"):
        assert got[key].shape == (batch, 4) and got[key].dtype == np.float32
    assert got["num_detections"].shape == (batch,) and got["num_detections"].dtype == np.float32
    # The reference's scores are well apart, so the served order must be the reference's order.
    assert np.min(-np.diff(expected["detection_scores"], axis=-1)) > 1e-4
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, atol=2e-5, err_msg=key)
    assert set(np.unique(got["detection_classes"])) <= set(range(1, 11))  # 1-based


@slow
@pytest.mark.parametrize("index", range(len(SIZES)))
def test_segmenter_returns_class_ids_at_the_input_size(served, index):
    got, expected = served["got"]["seg", index]["class_ids"], served["expected"]["seg", index]
    batch, height, width = SIZES[index]
    assert got.shape == (batch, height, width) and got.dtype == np.int32
    assert np.mean(got == expected) > 0.999  # two logits within rounding may pick either class
    assert len(np.unique(expected)) > 1  # the random model does not predict one class everywhere


def test_label_map_is_the_object_detection_api_text_format():
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

    # object_detection/protos/string_int_label_map.proto's fields (name = 1, id = 2, display_name = 3; item = 1).
    file_proto = descriptor_pb2.FileDescriptorProto(name="label_map_test.proto", package="object_detection.protos")
    field = descriptor_pb2.FieldDescriptorProto
    item = file_proto.message_type.add(name="StringIntLabelMapItem")
    for name, number, kind in (("name", 1, field.TYPE_STRING), ("id", 2, field.TYPE_INT32),
                               ("display_name", 3, field.TYPE_STRING)):
        item.field.add(name=name, number=number, type=kind, label=field.LABEL_OPTIONAL)
    label_map = file_proto.message_type.add(name="StringIntLabelMap")
    label_map.field.add(name="item", number=1, type=field.TYPE_MESSAGE, label=field.LABEL_REPEATED,
                        type_name=".object_detection.protos.StringIntLabelMapItem")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    message = message_factory.GetMessageClass(pool.FindMessageTypeByName("object_detection.protos.StringIntLabelMap"))()
    names = ["zero", "it's \\ odd", "two"]
    text_format.Parse(label_map_text(names), message)
    assert [(i.id, i.name, i.display_name) for i in message.item] == [(k + 1, n, n) for k, n in enumerate(names)]


@slow
def test_the_export_writes_the_label_map(served):
    text = (Path(served["exports"]["detr"].path) / "label_map.pbtxt").read_text()
    assert re.findall(r"id: (\d+)\n  name: '([^']*)'", text) == [(str(k + 1), f"digit {k}") for k in range(10)]


def test_detections_match_detr_post_processing_in_numpy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 6, 5)).astype("float32")
    boxes = rng.uniform(0.05, 0.95, size=(3, 6, 4)).astype("float32")
    boxes[0, 0] = (0.05, 0.05, 0.4, 0.4)  # reaches outside the image: clipped
    got = {k: np.asarray(v) for k, v in detections(logits, boxes).items()}
    exp = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities = (exp / exp.sum(-1, keepdims=True))[..., :-1]
    for image in range(3):
        order = np.argsort(-probabilities[image].max(-1))
        cx, cy, w, h = boxes[image, order].T
        np.testing.assert_allclose(got["detection_scores"][image], probabilities[image].max(-1)[order], atol=1e-6)
        np.testing.assert_array_equal(got["detection_classes"][image], probabilities[image].argmax(-1)[order] + 1)
        np.testing.assert_allclose(got["detection_boxes"][image], np.clip(
            np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], -1), 0, 1), atol=1e-6)
    np.testing.assert_array_equal(got["num_detections"], [6, 6, 6])
    assert got["detection_boxes"].min() == 0.0


def test_a_grayscale_model_serves_rgb_images_through_their_luma():
    from keras_vit.export.formats import serving_preprocessing

    spec = keras_vit.get_spec("seg_vit_ti16_digits").tiny_spec()
    model = randomize_weights(keras_vit.create(spec, backbone={**spec.model["backbone"], "num_channels": 1}),
                              scale=0.5, seed=3)
    contract = model.serving_signatures(serving_preprocessing(model), jit_compile=False)
    assert contract.image_shape == (32, 32, 3)
    rgb = np.random.default_rng(0).integers(0, 256, size=(2, 45, 70, 3), dtype=np.uint8)
    # ITU-R 601 luma (tf.image.rgb_to_grayscale's weights), then the reference's resize and normalization
    luma = (rgb.astype("float64") @ np.array([0.2989, 0.5870, 0.1140]))[..., None]
    expected = _segmenter_reference(model, luma)
    got = contract.serving_default(tf.constant(rgb))["class_ids"].numpy()
    assert np.mean(got == expected) > 0.999


@slow
def test_bad_images_get_the_contract_in_the_error(served):
    signature = tf.saved_model.load(served["exports"]["detr"].path).signatures["serving_default"]
    for bad in (np.zeros((32, 32, 3), np.uint8), np.zeros((1, 32, 32, 4), np.uint8), np.zeros((1, 0, 5, 3), np.uint8)):
        with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape("must be uint8 images of shape [batch, "
                                                                           "height, width, 3]")):
            signature(input_tensor=tf.constant(bad))
    with pytest.raises(tf.errors.InvalidArgumentError, match="uint8"):  # the dtype is checked before the graph runs
        signature(input_tensor=tf.zeros((1, 32, 32, 3), tf.float32))


@slow
def test_classifier_options_and_wrong_label_counts_are_refused(served, tmp_path):
    with pytest.raises(ValueError, match="apply to classifiers"):
        keras_vit.export(served["detector"], tmp_path / "a", top_k=3, verbose=False)
    with pytest.raises(ValueError, match="3 class names but the model has 10 classes"):
        keras_vit.export(served["detector"], tmp_path / "b", labels=["a", "b", "c"], verbose=False)


@pytest.mark.slow
def test_export_check_and_litert_files(tmp_path):
    # export(check=True) reloads and compares (XLA-compiled, as the default export is), and both task models
    # convert to LiteRT with built-in ops only; the check runs the file in LiteRT's interpreter.
    pytest.importorskip("ai_edge_litert")
    for name, seed in (("detr_vit_ti16_digits", 3), ("seg_vit_ti16_digits", 4)):
        model = _tiny(name, seed)
        keras_vit.export(model, tmp_path / name, check=True, verbose=False)
        result = keras_vit.export(model, tmp_path / f"{name}.tflite", format="litert", check=True, verbose=False)
        assert os.path.getsize(result.path) > 0


@slow
def test_a_changed_model_fails_the_check(tmp_path):
    # The check is not vacuous: a SavedModel of other weights differs from the Keras model.
    model = _tiny("seg_vit_ti16_digits", 5)
    result = keras_vit.export(model, tmp_path / "seg", jit_compile=False, verbose=False)
    other = _tiny("seg_vit_ti16_digits", 6)
    with pytest.raises(AssertionError, match="differs from the Keras model"):
        other.serving_signatures(keras_vit.export.formats.serving_preprocessing(other), jit_compile=False).check(
            result.path, verbose=False)


@slow
def test_warmup_requests_replay_against_a_task_export(tmp_path):
    # TF Serving replays these when it loads the version: one uint8 `input_tensor` request per batch size.
    prediction_log_pb2 = pytest.importorskip("tensorflow_serving.apis.prediction_log_pb2")
    result = keras_vit.export(_tiny("seg_vit_ti16_digits", 4), tmp_path / "models" / "seg", warmup_batch_sizes=(1, 2),
                              jit_compile=False, verbose=False)
    loaded = tf.saved_model.load(result.path)
    seen = []
    for record in tf.data.TFRecordDataset(os.path.join(result.path, "assets.extra", "tf_serving_warmup_requests")):
        request = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
        (name,) = request.inputs
        value = tf.make_ndarray(request.inputs[name])
        out = loaded.signatures[request.model_spec.signature_name](**{name: tf.constant(value)})
        seen.append((request.model_spec.signature_name, name, value.dtype.name, out["class_ids"].shape[0]))
    assert seen == [("serving_default", "input_tensor", "uint8", 1), ("serving_default", "input_tensor", "uint8", 2)]
