"""The serving signatures: float images or encoded bytes in, named classification outputs out.

Everything here is TensorFlow graph code that ends up inside the SavedModel, so that it serves with nothing but
TensorFlow installed. Shapes are checked at run time with `tf.debugging` asserts, because TF Serving checks only
the names and dtypes of inputs.
"""

import keras
import tensorflow as tf

from keras_vit.export.labels import read_labels
from keras_vit.models.layout import image_multiple, model_layout

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


def check_images(images, image_shape, signature, multiple=(1, 1)):
    """Asserts that `images` is [batch, height >= 1, width >= 1, C] of finite values, height and width multiples of
    `multiple` (a model taking any size: its patch size times its stem's stride); returns it with that static shape.

    The signature declares an unknown shape, so the checks see whatever a client sent (TF Serving does not check
    shapes). No op after the asserts can fail on a bad input (a bad input is replaced by one dummy image of
    `image_shape`, (height, width, C), while the assert reports it), so the assert's message is the error the
    client gets, whatever order the graph optimizer gives the ops. NaN or Inf pixels are refused too: they would
    otherwise come back as confident-looking classes (top-k of NaN probabilities).
    """
    num_channels = image_shape[2]
    kind = {1: "grayscale", 3: "RGB"}.get(num_channels, f"{num_channels}-channel")
    expected = f"float32 pixels of shape [batch, height, width, {num_channels}] ({kind} values in [0, 255])"
    # Every op here is valid for a tensor of any rank (padding the shape rather than indexing it), because
    # Grappler's constant folding may evaluate ops ahead of the asserts when it knows the fed shape.
    rank_ok = tf.equal(tf.rank(images), 4)
    shape = tf.concat([tf.shape(images, out_type=tf.int32), tf.ones([4], tf.int32)], axis=0)[:4]
    channels_ok = tf.logical_or(tf.logical_not(rank_ok), tf.equal(shape[3], num_channels))
    size_ok = tf.logical_or(tf.logical_not(rank_ok), tf.reduce_all(shape[1:3] > 0))
    shaped = tf.logical_and(rank_ok, tf.logical_and(channels_ok, size_ok))
    tiled = tf.logical_or(tf.logical_not(shaped), tf.reduce_all(shape[1:3] % tf.constant(multiple) == 0))
    num_not_finite = tf.reduce_sum(tf.cast(tf.logical_not(tf.math.is_finite(images)), tf.int32))
    checks = (
        (rank_ok, ", a 4-D batch (one image is a batch of one); received rank", tf.rank(images)),
        (channels_ok, f"; the last dimension (channels) is not {num_channels}. Received shape", shape),
        (size_ok, " with a height and width of at least 1 pixel; received shape", shape),
        (tiled, f", with a height and width that are multiples of the patch size {multiple[0]}x{multiple[1]} (the "
         "model takes any such size as it is, without resizing): resize or crop the images. Received shape", shape),
        (tf.equal(num_not_finite, 0), "; it holds NaN or infinite values (replace them, e.g. with 0, before "
         "sending). Number of such values:", num_not_finite),
    )
    for ok, problem, value in checks:
        tf.debugging.Assert(ok, [f"{signature}: `{IMAGES_KEY}` must be {expected}{problem}", value], summarize=4)
    valid = tf.logical_and(shaped, tiled)
    dummy_shape = tf.constant([1, *image_shape], tf.int32)
    safe_shape = tf.where(valid, shape, dummy_shape)
    safe = tf.cond(valid, lambda: images, lambda: tf.zeros(dummy_shape, images.dtype))
    return tf.reshape(safe, tf.concat([safe_shape[:3], [num_channels]], axis=0))


def check_encoded(image_bytes, signature):
    """Asserts that `image_bytes` is a 1-D batch whose elements start like a JPEG, PNG, GIF or BMP file (and that no
    PNG lacks its final IEND chunk, as a truncated file does); returns
    it with static shape [None] (an empty batch after a failed check, so that no later op fails first).

    The error names the bad elements by index and shows their first bytes as numbers: raw bytes in an error
    message would make it invalid UTF-8 (TensorFlow then fails to report it at all).
    """
    rank_ok = tf.equal(tf.rank(image_bytes), 1)
    tf.debugging.Assert(
        rank_ok,
        [f"{signature}: `{BYTES_KEY}` must be a 1-D batch of encoded images (one image is a batch of one); "
         "received rank", tf.rank(image_bytes)],
    )
    empty = tf.constant([], tf.string)
    batch = tf.cond(rank_ok, lambda: tf.reshape(image_bytes, [-1]), lambda: empty)
    starts = {name: tf.strings.substr(batch, 0, len(magic)) == magic for name, magic in _MAGIC.items()}
    unknown = tf.reshape(tf.where(tf.logical_not(tf.reduce_any(tf.stack(list(starts.values())), axis=0))), [-1])
    # The first 8 bytes of each element as uint8 numbers (padded, so that every element gives exactly 8).
    heads = tf.io.decode_raw(tf.strings.substr(batch + b"\0" * 8, 0, 8), tf.uint8)
    tf.debugging.Assert(
        tf.equal(tf.size(unknown), 0),
        [
            f"{signature}: every element of `{BYTES_KEY}` must be an encoded JPEG or PNG (GIF and BMP work too): the "
            'file\'s raw bytes, which a REST client sends base64-encoded as {"b64": "..."}. Elements at (0-based) '
            "indices",
            unknown,
            "are not; their first bytes as numbers (a PNG starts 137 80 78 71, a JPEG 255 216 255):",
            tf.gather(heads, unknown),
        ],
        summarize=64,
    )
    # A PNG cut short (its IEND chunk missing) would fail inside the decoder, whose error names no element.
    cut = tf.reshape(tf.where(starts["PNG"] & (tf.strings.split(batch, sep="IEND").row_lengths() < 2)), [-1])
    tf.debugging.Assert(tf.equal(tf.size(cut), 0), [
        f"{signature}: the elements of `{BYTES_KEY}` at (0-based) indices", cut, "are PNG files cut short (no IEND "
        "chunk): send each file whole."], summarize=64)
    return tf.cond(tf.equal(tf.size(unknown) + tf.size(cut), 0), lambda: batch, lambda: empty)


class ServingSignatures:
    """The `serving_default` and `serving_bytes` tf.functions of one model, with its files, its one-file wrapper and
    its self-check: the interface `keras_vit.export` asks of every model's signatures (a task model's
    `serving_signatures` returns the same, see keras_vit.tasks.serving).

    Args:
        model: a built single-input Keras model taking preprocessed (batch, H, W, C) images.
        preprocessing: an `ImagePreprocessing` layer (resize + normalize of [0, 255] pixels). A model made with
            dynamic_image_size=True takes `images` of any valid size as they are (normalized, not resized);
            `image_bytes` are decoded and resized to the preprocessing's size either way.
        top_k: how many classes `top_k_classes`/`top_k_scores` hold (capped at the number of classes).
        labels: None, a list of class names or a text file, one name per line (adds the `top_k_labels` output).
        include_features: whether to add the pooled `features` (the classifier's input).
        jit_compile: whether the model call (and softmax/top-k) is compiled with XLA.
        outputs: "auto", "logits", "probabilities" or "features" (see `output_kind`).
    """

    input_dtype = tf.float32

    def __init__(self, model, preprocessing, top_k=5, labels=None, include_features=False, jit_compile=True,
                 outputs="auto"):
        self.model, self.preprocessing, self.output_mode = model, preprocessing, outputs
        self.kind = output_kind(model, outputs)
        num_outputs = int(model.outputs[0].shape[-1])
        if self.kind == "features" and labels is not None:
            raise ValueError(f"export: model {model.name!r} has no classifier (it returns features); drop `labels`.")
        self.labels = None if self.kind == "features" else read_labels(labels, num_classes=num_outputs)
        _, height, width, channels = model.inputs[0].shape
        self.dynamic = height is None or width is None
        self.image_shape = (*preprocessing.image_size, channels) if self.dynamic else (height, width, channels)
        layout = getattr(model, "layout", None)  # a plain Keras model taking any size has no patch size to keep
        self.image_multiple = image_multiple(layout) if self.dynamic and layout is not None else (1, 1)
        self.jit_compile = bool(jit_compile)
        core_outputs = {"model_output": model.outputs[0]}
        if include_features and self.kind != "features":  # the pooled features: the classifier's input
            head = model_layout(model, "export: include_features=True").head
            if head is None:
                raise ValueError(f"export: include_features=True needs a classifier; model {model.name!r} has none.")
            core_outputs["features"] = model.get_layer(head).input
        self.core = keras.Model(model.inputs[0], core_outputs, name=f"{model.name}_serving")
        if int(top_k) < 1:
            raise ValueError(f"export: top_k must be at least 1; received {top_k!r}.")
        self.top_k = min(int(top_k), num_outputs)
        self.compute = tf.function(self._compute, jit_compile=self.jit_compile, autograph=False)
        self.serving_default = tf.function(self._serve_images, autograph=False,
                                           input_signature=[tf.TensorSpec(None, tf.float32, name=IMAGES_KEY)])
        self.serving_bytes = tf.function(self._serve_bytes, autograph=False,
                                         input_signature=[tf.TensorSpec(None, tf.string, name=BYTES_KEY)])

    def endpoints(self):
        return {DEFAULT_SIGNATURE: self.serving_default, BYTES_SIGNATURE: self.serving_bytes}

    def files(self):
        return {}  # written beside saved_model.pb; a task model's signatures write its label map

    def inference_model(self):
        """[0, 255] pixels at the preprocessing's size -> {"probabilities"} (softmax of logits) or {"features"}, as
        one Keras model (the numeric part of the signatures without top-k): what the one-file formats hold."""
        images = keras.Input(self.image_shape, name=IMAGES_KEY, dtype="float32")
        name = "features" if self.kind == "features" else "probabilities"
        return keras.Model(images, {name: self._compute(self.preprocessing(images))[name]},
                           name=f"{self.model.name}_inference")

    def check(self, path, verbose=True):
        """`check_export` of the SavedModel at `path` against this model."""
        from keras_vit.export.check import check_export

        check_export(path, self.model, self.preprocessing, self.labels, self.output_mode, verbose=verbose)

    def check_file(self, result, verbose=True):
        """`check_file_export` of a one-file export against this model."""
        from keras_vit.export.check import check_file_export

        check_file_export(result, self.model, self.preprocessing, self.output_mode, verbose=verbose)

    def _compute(self, pixels):
        """Preprocessed pixels -> the numeric outputs (the part XLA compiles; keras.ops, so that it also builds the
        Keras model of `inference_model`)."""
        out = self.core(pixels, training=False)
        scores = keras.ops.cast(out["model_output"], "float32")
        if self.kind == "features":
            return {"features": scores}
        probabilities = keras.ops.softmax(scores, axis=-1) if self.kind == "logits" else scores
        top_scores, top_classes = keras.ops.top_k(probabilities, k=self.top_k)
        result = {"probabilities": probabilities, "top_k_classes": top_classes, "top_k_scores": top_scores}
        if "features" in out:
            result["features"] = keras.ops.cast(out["features"], "float32")
        return result

    def _finish(self, pixels):
        result = dict(self.compute(pixels))
        if self.labels is not None:
            result["top_k_labels"] = tf.gather(tf.constant(self.labels, dtype=tf.string), result["top_k_classes"])
        return result

    def _serve_images(self, images):
        images = check_images(images, self.image_shape, DEFAULT_SIGNATURE, self.image_multiple)
        return self._finish(self.preprocessing.normalize(images) if self.dynamic else self.preprocessing(images))

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
