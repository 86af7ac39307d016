"""What `keras_vit.export` writes for a task model: the serving contract each task model publishes.

A detector's `serving_default` follows the TF Object Detection API's output contract, so that its clients work
unchanged:

    input_tensor       uint8 [batch, height, width, 3], any height and width (resized inside to the model's size)
    detection_boxes    float32 [batch, num_queries, 4], normalized [ymin, xmin, ymax, xmax] of the input image
    detection_scores   float32 [batch, num_queries], sorted from the highest
    detection_classes  float32 [batch, num_queries], 1-based class ids (class k of the model is k + 1), named by
                       the label_map.pbtxt written into the version folder
    num_detections     float32 [batch]: every query gives a detection (DETR needs no non-maximum suppression);
                       clients keep those above a score threshold

Scores are DETR's: softmax over the classes and "no object", the best real class's probability.

A segmenter's `serving_default` takes the same `input_tensor` and returns `class_ids`, int32 [batch, height,
width]: the class of every pixel at the input's own size (the logits are resized bilinearly to the input's size
before the argmax). Class 0 is the background in the digit scenes' convention.

The one-file formats (`format="litert"` and the others) hold the same computation at the model's fixed size, on
float32 [0, 255] pixels (no resize inside): the detector's four outputs, or the segmenter's class ids at the
model's size.

Everything inside the SavedModel is TensorFlow graph code: it serves with TensorFlow alone.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_vit.export.labels import read_labels
from keras_vit.tasks.boxes import cxcywh_to_xyxy

INPUT_KEY = "input_tensor"
LABEL_MAP_FILE = "label_map.pbtxt"
DETECTION_OUTPUTS = ("detection_boxes", "detection_scores", "detection_classes", "num_detections")
SEGMENTATION_OUTPUTS = ("class_ids",)


def detections(logits, boxes):
    """DETR's last decoder layer's predictions as the Object Detection API's outputs (keras.ops: the same code in
    the SavedModel and in a LiteRT file).

    Args:
        logits: (batch, queries, classes + 1), the last class "no object".
        boxes: (batch, queries, 4) normalized (cx, cy, w, h).

    Returns:
        {"detection_boxes": (batch, queries, 4) [ymin, xmin, ymax, xmax] clipped to [0, 1], "detection_scores":
        (batch, queries) sorted descending, "detection_classes": (batch, queries) float 1-based, "num_detections":
        (batch,) float}.
    """
    probabilities = ops.softmax(ops.cast(logits, "float32"), axis=-1)[..., :-1]
    scores, classes = _argmax(probabilities)
    sorted_scores, order = ops.top_k(scores, k=scores.shape[-1])
    x1, y1, x2, y2 = ops.unstack(cxcywh_to_xyxy(ops.cast(boxes, "float32")), 4, axis=-1)
    corners = ops.clip(ops.stack([y1, x1, y2, x2], axis=-1), 0.0, 1.0)
    return {
        "detection_boxes": ops.take_along_axis(corners, ops.expand_dims(order, -1), axis=1),
        "detection_scores": sorted_scores,
        "detection_classes": ops.cast(ops.take_along_axis(classes, order, axis=1), "float32") + 1.0,
        "num_detections": ops.cast(ops.ones_like(sorted_scores[:, 0]), "float32") * scores.shape[-1],
    }


def _argmax(values):
    """(max, argmax) over the last axis through top_k: Keras's TensorFlow argmax adds a BitwiseAnd (it orders -0.0
    below 0.0), an op LiteRT lacks."""
    top, index = ops.top_k(values, k=1)
    return top[..., 0], index[..., 0]


def label_map_text(names):
    """The Object Detection API's label map (text-format StringIntLabelMap): class k of the model is id k + 1."""
    items = []
    for k, name in enumerate(names):
        quoted = name.replace("\\", "\\\\").replace("'", "\\'")
        items.append(f"item {{\n  id: {k + 1}\n  name: '{quoted}'\n  display_name: '{quoted}'\n}}\n")
    return "".join(items)


def check_input(images, channels=3):
    """Asserts that `images` is uint8 [batch, height >= 1, width >= 1, channels]; returns it with that static
    rank (a 1x1 black image stands in after a failed assert, so the assert's message is the error a client gets,
    not a later op's). TF Serving checks only the input's name and dtype."""
    rank_ok = tf.equal(tf.rank(images), 4)
    shape = tf.concat([tf.shape(images, out_type=tf.int32), tf.ones([4], tf.int32)], axis=0)[:4]
    ok = tf.logical_and(rank_ok, tf.logical_and(tf.equal(shape[3], channels), tf.reduce_all(shape[1:3] > 0)))
    tf.debugging.Assert(ok, [f"serving_default: `{INPUT_KEY}` must be uint8 images of shape [batch, height, width, "
                             f"{channels}] (one image is a batch of one) with a height and width of at least 1; "
                             "received shape", tf.shape(images)])
    dummy_shape = tf.constant([1, 1, 1, channels], tf.int32)
    safe = tf.cond(ok, lambda: images, lambda: tf.zeros(dummy_shape, images.dtype))
    # A shape of static length 4 gives the result a static rank (the input's is unknown).
    return tf.reshape(safe, tf.concat([tf.where(ok, shape, dummy_shape)[:3], [channels]], axis=0))


class TaskServing:
    """A task model's serving signature, its files and self-check: the interface of
    `keras_vit.export.ServingSignatures`, which `keras_vit.export` asks a model that has `serving_signatures` for.
    Subclasses define OUTPUTS, `outputs(raw, input_size)` and `files()`.

    Args:
        model: the task model (float images normalized as `preprocessing` does).
        preprocessing: a float32 `ImagePreprocessing` ([0, 255] pixels of any size -> the model's input).
        labels: None, a list of class names or a text file, one name per line.
        jit_compile: XLA-compile the model call at its fixed size.
    """

    OUTPUTS = ()
    input_dtype = tf.uint8

    def __init__(self, model, preprocessing, labels=None, jit_compile=True):
        self.model, self.preprocessing, self.jit_compile = model, preprocessing, bool(jit_compile)
        # The contract's images have 3 channels (image files decode to RGB); a grayscale model gets their luma.
        self.model_channels = model.inputs[0].shape[-1]
        self.image_shape = (*preprocessing.image_size, 3 if self.model_channels == 1 else self.model_channels)
        self.labels = read_labels(labels, num_classes=self.num_classes)
        self.compute = tf.function(lambda pixels: self.model(pixels, training=False), jit_compile=self.jit_compile,
                                   autograph=False)
        self.serving_default = tf.function(
            self._serve, input_signature=[tf.TensorSpec(None, tf.uint8, name=INPUT_KEY)], autograph=False)

    def endpoints(self):
        return {"serving_default": self.serving_default}

    def _serve(self, images):
        images = check_input(images, self.image_shape[-1])
        return self.outputs(self.compute(self.preprocessing(self._model_pixels(images))), tf.shape(images)[1:3])

    def _model_pixels(self, images):
        pixels = ops.cast(images, "float32")
        return tf.image.rgb_to_grayscale(pixels) if self.model_channels == 1 else pixels

    def inference_model(self):
        """float32 [0, 255] pixels at the model's size -> the outputs (for LiteRT, ONNX, OpenVINO files)."""
        pixels = keras.Input(self.image_shape, name="images", dtype="float32")
        raw = self.model(self.preprocessing.normalize(self._model_pixels(pixels)), training=False)
        return keras.Model(pixels, self.outputs(raw, None), name=f"{self.model.name}_inference")

    def reference(self, images):
        """The outputs for uint8 `images` computed eagerly with Keras, without the traced signature."""
        images = tf.convert_to_tensor(images)
        return {k: np.asarray(v) for k, v in self.outputs(self.model(self.preprocessing(self._model_pixels(images)),
                                                                     training=False), tf.shape(images)[1:3]).items()}

    def check(self, path, verbose=True):
        """Reloads the SavedModel at `path` with tf.saved_model.load and compares serving_default with `reference`
        on random images at the model's size and at another; raises AssertionError on a difference."""
        loaded = tf.saved_model.load(path).signatures["serving_default"]
        rng = np.random.default_rng(0)
        height, width, channels = self.image_shape
        for batch, size in ((1, (height, width)), (2, (height + 7, 2 * width + 3))):
            images = rng.integers(0, 256, size=(batch, *size, channels), dtype=np.uint8)
            got = {k: v.numpy() for k, v in loaded(**{INPUT_KEY: tf.constant(images)}).items()}
            self.compare(got, self.reference(images), f"{path} on a batch of {batch} at {size}")
        if verbose:
            print(f"Check passed: {path} reloaded with tf.saved_model.load matches the Keras model.")

    def check_file(self, result, verbose=True):
        """Runs a one-file export in its runtime (LiteRT's interpreter for .tflite) and compares its outputs."""
        if result.format != "litert":
            raise ValueError(f"export: check=True for a task model's {result.format!r} file is not implemented; "
                             "check it in its runtime yourself, or export format='litert'.")
        from ai_edge_litert.interpreter import Interpreter

        runner = Interpreter(model_path=result.path).get_signature_runner()
        images = np.random.default_rng(0).integers(0, 256, size=(1, *self.image_shape), dtype=np.uint8)
        self.compare(runner(images=images.astype("float32")), self.reference(images), result.path)
        if verbose:
            print(f"Check passed: {result.path} in LiteRT's interpreter matches the Keras model.")

    def compare(self, got, expected, where):
        if sorted(got) != sorted(expected):
            raise AssertionError(f"export check: {where} returns {sorted(got)}, expected {sorted(expected)}.")
        for key, value in expected.items():
            self.compare_output(key, np.asarray(got[key]), value, where)

    def compare_output(self, key, got, expected, where):
        if got.shape != expected.shape or not np.allclose(got, expected, atol=1e-4):
            raise AssertionError(f"export check: {where}: output {key!r} differs from the Keras model.")


class DetectionServing(TaskServing):
    """DETR's serving contract: the Object Detection API's outputs and a label map (module docstring)."""

    OUTPUTS = DETECTION_OUTPUTS

    @property
    def num_classes(self):
        return int(self.model.output["logits"].shape[-1]) - 1

    def outputs(self, raw, input_size):
        return detections(raw["logits"][:, -1], raw["boxes"][:, -1])

    def files(self):
        return {LABEL_MAP_FILE: label_map_text(self.labels or [str(k) for k in range(self.num_classes)])}

    def compare_output(self, key, got, expected, where):
        # Queries of (nearly) equal scores may come out in either order: compare as sets of rows, ordered by
        # class and box, and the scores as sorted values.
        if key in ("detection_boxes", "detection_classes") and got.shape == expected.shape:
            got, expected = np.sort(got, axis=1), np.sort(expected, axis=1)
        super().compare_output(key, got, expected, where)


class SegmentationServing(TaskServing):
    """The segmenter's serving contract: `class_ids` per pixel at the input's size (module docstring)."""

    OUTPUTS = SEGMENTATION_OUTPUTS

    @property
    def num_classes(self):
        return int(self.model.output.shape[-1])

    def outputs(self, raw, input_size):
        logits = ops.cast(raw, "float32")
        if input_size is not None:
            logits = tf.image.resize(logits, input_size, method="bilinear")
        return {"class_ids": ops.cast(_argmax(logits)[1], "int32")}

    def files(self):
        return {"labels.txt": "".join(f"{name}\n" for name in self.labels)} if self.labels else {}

    def compare_output(self, key, got, expected, where):
        # Two logits within float rounding of each other may pick either class: allow a tiny share of pixels.
        if got.shape != expected.shape or np.mean(got != expected) > 1e-3:
            raise AssertionError(f"export check: {where}: output {key!r} differs from the Keras model "
                                 f"({np.mean(got != expected) if got.shape == expected.shape else 'shape'}).")
