"""The export's self-check: reload the SavedModel with plain TensorFlow and compare it with the Keras model."""

import numpy as np
import tensorflow as tf

from keras_vit.export.formats import load_runtime, serving_preprocessing
from keras_vit.export.signatures import BYTES_SIGNATURE, DEFAULT_SIGNATURE, ServingSignatures


class ExportCheckError(AssertionError):
    """The reloaded SavedModel disagrees with the Keras model."""


def _compare(name, got, expected, atol, rtol=0.0):
    """max |got - expected|; ExportCheckError unless the shapes agree and |got - expected| <= atol + rtol |expected|."""
    same_shape = got.shape == expected.shape
    difference = float(np.max(np.abs(got - expected), initial=0.0)) if same_shape else float("nan")
    if not same_shape or not np.allclose(got, expected, rtol=rtol, atol=atol):
        raise ExportCheckError(
            f"export check: {name} differs from the Keras model (shape {got.shape} vs {expected.shape}, "
            f"max |difference| {difference:.3g}; allowed atol {atol:g}" + (f", rtol {rtol:g})." if rtol else ").")
        )
    return difference


# Tolerances of the check by the model's compute dtype: XLA and eager Keras round bfloat16/float16 differently.
DEFAULT_ATOL = {"float32": 1e-5, "float64": 1e-5, "bfloat16": 2e-2, "float16": 5e-3}


def check_export(path, model, preprocessing=None, labels=None, outputs="auto", atol=None, verbose=True):
    """Loads the SavedModel at `path` with tf.saved_model.load and compares both signatures with `model`.

    Calls serving_default on batches of 1 and 3 random images (one batch at the model's size, one larger by a patch in
    height and two in width, a pixel and two for a fixed-size model: serving_default resizes it, a model with
    dynamic_image_size takes it as it is) and serving_bytes on the same images as PNGs (one batch of both sizes), and
    compares `probabilities` (or `features`), `top_k_scores`, `top_k_labels` and `features` with the same
    signatures of `model` traced here without XLA.

    Args:
        atol: the largest allowed difference; None takes 1e-5 for float32 models and 2e-2 for mixed_bfloat16 ones
            (5e-3 for mixed_float16).

    Returns:
        {output: max |difference|}. Raises ExportCheckError on a difference above `atol`.
    """
    preprocessing = serving_preprocessing(model, preprocessing)
    if atol is None:
        atol = max(DEFAULT_ATOL.get(layer.dtype_policy.compute_dtype, 1e-5) for layer in (model, *model.layers))
    loaded = tf.saved_model.load(path)
    missing = {DEFAULT_SIGNATURE, BYTES_SIGNATURE} - set(loaded.signatures)
    if missing:
        raise ExportCheckError(f"export check: {path} lacks the signatures {sorted(missing)}.")
    served = loaded.signatures[DEFAULT_SIGNATURE].structured_outputs
    reference = ServingSignatures(model, preprocessing, labels=labels, outputs=outputs, jit_compile=False,
                                  top_k=served["top_k_scores"].shape[-1] if "top_k_scores" in served else 5,
                                  include_features="features" in served and "probabilities" in served)
    (height, width, channels), (step_h, step_w) = reference.image_shape, reference.image_multiple
    rng = np.random.default_rng(0)
    differences, pngs = {}, []

    def compare(name, value, where):
        """The reloaded signature `name` against the reference's, both called on `value` (their one input)."""
        (key,) = loaded.signatures[name].structured_input_signature[1]
        got, want = ({output: tensor.numpy() for output, tensor in function(**{key: tf.constant(value)}).items()}
                     for function in (loaded.signatures[name], reference.endpoints()[name]))
        for output in {"probabilities", "features", "top_k_scores"} & set(want):
            differences[f"{where}.{output}"] = _compare(f"{where} output {output!r}", got[output], want[output], atol)
        if "probabilities" in want:
            classes = got["top_k_classes"].astype("int64")
            # The scores of the returned classes, looked up in the reference's probabilities (ties may order
            # differently).
            looked_up = np.take_along_axis(want["probabilities"], classes, axis=-1)
            _compare(f"{where} top_k_scores of top_k_classes", got["top_k_scores"], looked_up, atol)
            if reference.labels is not None and not (got["top_k_labels"].astype(str) ==
                                                     np.asarray(reference.labels)[classes]).all():
                raise ExportCheckError(f"export check: {where} top_k_labels do not name top_k_classes.")

    for batch, size in ((1, (height, width)), (3, (height + step_h, width + 2 * step_w))):
        images = rng.integers(0, 256, size=(batch, *size, channels)).astype("float32")
        compare(DEFAULT_SIGNATURE, images, f"{DEFAULT_SIGNATURE}[batch {batch}]")
        pngs += [tf.io.encode_png(image.astype("uint8")).numpy() for image in images]
    compare(BYTES_SIGNATURE, pngs, BYTES_SIGNATURE)  # one batch of both sizes
    if verbose:
        worst = max(differences.values())
        print(f"Check passed: {path} reloaded with tf.saved_model.load matches the Keras model (max |difference| "
              f"{worst:.2g} over {len(differences)} outputs).")
    return differences


def check_file_export(result, model, preprocessing=None, outputs="auto", rtol=1e-4, verbose=True):
    """Runs a one-file export (`keras_vit.export(..., format="litert"|"onnx"|"openvino")`) in its own runtime on
    batches of 1 and 3 random images and compares it with the Keras model.

    A float file must match to `rtol` relative (plus 1e-6 absolute, for near-zero probabilities); an int8 LiteRT
    file must give the same top-1 class for at least 90% of 32 images (its weights are rounded, so its scores are
    not the float model's).

    Returns:
        The largest |difference| (float), or the top-1 agreement (int8). Raises ExportCheckError otherwise.
    """
    preprocessing = serving_preprocessing(model, preprocessing)
    wrapper = ServingSignatures(model, preprocessing, outputs=outputs, jit_compile=False).inference_model()
    predict = load_runtime(result.path)
    rng = np.random.default_rng(0)

    def sample(batch):
        images = rng.uniform(0, 255, size=(batch, *wrapper.inputs[0].shape[1:])).astype("float32")
        return images, np.asarray(wrapper(images, training=False)[result.output_name], "float32")

    if result.quantize is not None:
        images, expected = sample(32)
        agreement = float(np.mean(np.argmax(predict(images), -1) == np.argmax(expected, -1)))
        if agreement < 0.9:
            raise ExportCheckError(f"export check: {result.path} ({result.quantize}) agrees with the float Keras model "
                                   f"on the top-1 class of {agreement:.0%} of 32 images (< 90%).")
        if verbose:
            print(f"Check passed: {result.path} in its runtime agrees with the Keras model on the top-1 class of "
                  f"{agreement:.0%} of 32 images.")
        return agreement
    name = f"{result.path} in its {result.format} runtime"
    worst = max(_compare(name, np.asarray(predict(images), "float32"), expected, 1e-6, rtol)
                for images, expected in map(sample, (1, 3)))
    if verbose:
        print(f"Check passed: {result.path} in its {result.format} runtime matches the Keras model (max |difference| "
              f"{worst:.2g}).")
    return worst
