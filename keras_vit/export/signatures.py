"""The serving signatures: float images or encoded bytes in, named classification outputs out.

Everything here is TensorFlow graph code that ends up inside the SavedModel, so that it serves with nothing but
TensorFlow installed. Shapes are checked at run time with `tf.debugging` asserts, because TF Serving checks only
the names and dtypes of inputs.
"""

from __future__ import annotations

import keras
import tensorflow as tf

IMAGES_KEY = "images"
BYTES_KEY = "image_bytes"
DEFAULT_SIGNATURE = "serving_default"
BYTES_SIGNATURE = "serving_bytes"

# Leading bytes of the formats tf.io.decode_image reads.
_MAGIC = {"JPEG": b"\xff\xd8\xff", "PNG": b"\x89PNG\r\n\x1a\n", "GIF": b"GIF8", "BMP": b"BM"}


def output_kind(model, outputs="auto"):
    """Whether the model returns "logits", "probabilities" or "features" (no classifier).

    "auto" reads the zoo config: no classifier (num_classes=0) gives "features"; classifier_activation None
    gives "logits"; any activation (softmax, sigmoid) gives "probabilities" (the scores are served as they are).
    """
    if outputs not in ("auto", "logits", "probabilities", "features"):
        raise ValueError(f"export: `outputs` must be 'auto', 'logits', 'probabilities' or 'features'; received {outputs!r}.")
    if outputs != "auto":
        return outputs
    if len(model.outputs) != 1 or len(model.inputs) != 1:
        raise ValueError(
            f"export: model {model.name!r} has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
            "the serving signatures need one image input and one output."
        )
    try:
        config = model.get_config()
    except Exception:  # a plain functional model without a zoo config
        config = {}
    if config.get("num_classes", 1) == 0 or len(model.outputs[0].shape) != 2:
        return "features"
    return "logits" if config.get("classifier_activation") in (None, "linear") else "probabilities"


def _feature_tensor(model):
    try:
        head = model.get_layer("head")
    except ValueError:
        raise ValueError(
            f"export: include_features=True needs the classifier layer named 'head'; model {model.name!r} has none."
        ) from None
    return head.input


def check_images(images, num_channels, signature):
    """Asserts that `images` is [batch, height >= 1, width >= 1, num_channels]; returns it with that static shape."""
    shape = tf.shape(images)
    checks = [
        tf.debugging.assert_equal(
            shape[3],
            num_channels,
            message=(
                f"{signature}: `{IMAGES_KEY}` must be float32 pixels of shape [batch, height, width, {num_channels}] "
                f"(RGB values in [0, 255]); the last dimension (channels) is not {num_channels}"
            ),
        ),
        tf.debugging.assert_positive(
            shape[1:3], message=f"{signature}: `{IMAGES_KEY}` must have a height and width of at least 1 pixel"
        ),
    ]
    with tf.control_dependencies(checks):
        images = tf.identity(images)
    return tf.ensure_shape(images, [None, None, None, num_channels])


def check_encoded(image_bytes, signature):
    """Asserts that every element starts like a JPEG, PNG, GIF or BMP file."""
    known = tf.zeros_like(image_bytes, dtype=tf.bool)
    for magic in _MAGIC.values():
        known = tf.logical_or(known, tf.strings.substr(image_bytes, 0, len(magic)) == magic)
    check = tf.debugging.Assert(
        tf.reduce_all(known),
        [
            f"{signature}: every element of `{BYTES_KEY}` must be an encoded JPEG or PNG (GIF and BMP work too): the "
            'file\'s raw bytes, which a REST client sends base64-encoded as {"b64": "..."}. Received elements '
            "starting with:",
            tf.strings.substr(image_bytes, 0, 8),
        ],
    )
    with tf.control_dependencies([check]):
        return tf.identity(image_bytes)


class ServingSignatures:
    """The traced `serving_default` and `serving_bytes` tf.functions of one model.

    Args:
        model: a built single-input Keras model taking preprocessed (batch, H, W, C) images.
        preprocessing: an `ImagePreprocessing` layer (resize + normalize of [0, 255] pixels).
        top_k: how many classes `top_k_classes`/`top_k_scores` hold (capped at the number of classes).
        labels: None or a list of class names (adds the `top_k_labels` output).
        include_features: whether to add the pooled `features` (the classifier's input).
        jit_compile: whether the model call (and softmax/top-k) is compiled with XLA.
        outputs: "auto", "logits", "probabilities" or "features" (see `output_kind`).
    """

    def __init__(self, model, preprocessing, top_k=5, labels=None, include_features=False, jit_compile=True,
                 outputs="auto"):
        self.kind = output_kind(model, outputs)
        _, height, width, channels = model.inputs[0].shape
        self.image_shape = (height, width, channels)
        self.preprocessing = preprocessing
        self.jit_compile = bool(jit_compile)
        core_outputs = {"model_output": model.outputs[0]}
        if include_features and self.kind != "features":
            core_outputs["features"] = _feature_tensor(model)
        self.core = keras.Model(model.inputs[0], core_outputs, name=f"{model.name}_serving")
        num_classes = None if self.kind == "features" else int(model.outputs[0].shape[-1])
        self.top_k = None if num_classes is None else min(int(top_k), num_classes)
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"export: top_k must be at least 1; received {top_k!r}.")
        self.labels = labels

        self.compute = tf.function(self._compute, jit_compile=self.jit_compile, autograph=False)
        self.serving_default = tf.function(
            self._serve_images,
            input_signature=[tf.TensorSpec([None, None, None, None], tf.float32, name=IMAGES_KEY)],
            autograph=False,
        )
        self.serving_bytes = tf.function(
            self._serve_bytes,
            input_signature=[tf.TensorSpec([None], tf.string, name=BYTES_KEY)],
            autograph=False,
        )
        self.serving_default.get_concrete_function()
        self.serving_bytes.get_concrete_function()

    def output_names(self):
        """The output keys of both signatures, in a stable order."""
        names = ["features"] if self.kind == "features" else ["probabilities", "top_k_classes", "top_k_scores"]
        if self.kind != "features" and "features" in self.core.output:
            names.append("features")
        if self.labels is not None and self.kind != "features":
            names.append("top_k_labels")
        return names

    def _compute(self, pixels):
        """Preprocessed pixels -> the numeric outputs (the part XLA compiles)."""
        out = self.core(pixels, training=False)
        result = {}
        if self.kind == "features":
            return {"features": tf.cast(out["model_output"], tf.float32)}
        scores = tf.cast(out["model_output"], tf.float32)
        probabilities = tf.nn.softmax(scores, axis=-1) if self.kind == "logits" else scores
        top_scores, top_classes = tf.math.top_k(probabilities, k=self.top_k)
        result = {"probabilities": probabilities, "top_k_classes": top_classes, "top_k_scores": top_scores}
        if "features" in out:
            result["features"] = tf.cast(out["features"], tf.float32)
        return result

    def _finish(self, pixels):
        result = dict(self.compute(pixels))
        if self.labels is not None and self.kind != "features":
            result["top_k_labels"] = tf.gather(tf.constant(self.labels, dtype=tf.string), result["top_k_classes"])
        return result

    def _serve_images(self, images):
        images = check_images(images, self.image_shape[2], DEFAULT_SIGNATURE)
        return self._finish(self.preprocessing(images))

    def _serve_bytes(self, image_bytes):
        image_bytes = check_encoded(image_bytes, BYTES_SIGNATURE)
        height, width, channels = self.image_shape

        def decode(encoded):
            image = tf.io.decode_image(encoded, channels=channels, dtype=tf.uint8, expand_animations=False)
            image = tf.cast(image, tf.float32)[tf.newaxis]
            return self.preprocessing(image)[0]

        pixels = tf.map_fn(
            decode, image_bytes, fn_output_signature=tf.TensorSpec([height, width, channels], tf.float32)
        )
        return self._finish(pixels)
