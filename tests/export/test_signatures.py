"""The exported signatures' names, dtypes and input checks, as saved_model_cli and a client see them."""

import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import keras_vit
from tests.export.helpers import tiny_model


def xla_compiled_functions(path):
    """Names of the functions in the SavedModel at `path` marked for XLA (`_XlaMustCompile` true)."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    with open(f"{path}/saved_model.pb", "rb") as file:
        saved.ParseFromString(file.read())
    functions = [function for graph in saved.meta_graphs for function in graph.graph_def.library.function]
    return sorted(f.signature.name for f in functions if "_XlaMustCompile" in f.attr and f.attr["_XlaMustCompile"].b)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("signatures")
    model = tiny_model("vit_ti16")
    labels = [f"class {i}" for i in range(10)]
    result = keras_vit.export(model, root / "models" / "vit", labels=labels, top_k=4, verbose=False)
    return result, tf.saved_model.load(result.path)


def parse_saved_model_cli(text):
    """{signature: {"inputs": {name: (dtype, shape)}, "outputs": {...}, "method": ...}} from `show --all`."""
    signatures = {}
    for block in re.split(r"\nsignature_def\['", text)[1:]:
        name = block.split("'", 1)[0]
        entry = {"inputs": {}, "outputs": {}, "method": re.search(r"Method name is: (\S*)", block).group(1)}
        for kind, key, dtype, shape in re.findall(
            r"(inputs|outputs)\['([^']+)'\] tensor_info:\s+dtype: (\w+)\s+shape: ([^\n]+)", block
        ):
            entry[kind][key] = (dtype, shape.strip())
        signatures[name] = entry
    return signatures


def test_saved_model_cli_lists_both_signatures_with_documented_names_and_dtypes(exported):
    result, _ = exported
    process = subprocess.run(
        [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show", "--all", "--dir", result.path],
        capture_output=True, text=True, timeout=300,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    assert "MetaGraphDef with tag-set: 'serve'" in process.stdout
    signatures = parse_saved_model_cli(process.stdout)
    outputs = {
        "probabilities": ("DT_FLOAT", "(-1, 10)"),
        "top_k_classes": ("DT_INT32", "(-1, 4)"),
        "top_k_scores": ("DT_FLOAT", "(-1, 4)"),
        "top_k_labels": ("DT_STRING", "(-1, 4)"),
    }
    assert signatures["serving_default"] == {
        "inputs": {"images": ("DT_FLOAT", "unknown_rank")},
        "outputs": outputs,
        "method": "tensorflow/serving/predict",
    }
    assert signatures["serving_bytes"] == {
        "inputs": {"image_bytes": ("DT_STRING", "unknown_rank")},
        "outputs": outputs,
        "method": "tensorflow/serving/predict",
    }


def test_xla_is_recorded_in_the_saved_model_and_can_be_turned_off(exported, tmp_path):
    result, _ = exported
    assert result.jit_compile is True  # "auto" compiled this model
    compiled = xla_compiled_functions(result.path)
    assert compiled and all("_compute" in name for name in compiled), compiled  # the model call, nothing else
    plain = keras_vit.export(tiny_model("vit_ti16"), tmp_path / "plain", jit_compile=False, verbose=False)
    assert plain.jit_compile is False
    assert xla_compiled_functions(plain.path) == []
    assert "--xla_cpu_compilation_enabled" not in plain.docker_command
    assert "--xla_cpu_compilation_enabled=true" in result.docker_command


@pytest.mark.parametrize(
    "images, message",
    [
        (np.zeros((1, 32, 32, 4), "float32"), "the last dimension (channels) is not 3"),
        (np.zeros((2, 32, 32, 1), "float32"), "the last dimension (channels) is not 3"),
        (np.zeros((32, 32, 3), "float32"), "a 4-D batch (one image is a batch of one)"),
        (np.zeros((1, 1, 32, 32, 3), "float32"), "a 4-D batch (one image is a batch of one)"),
        (np.zeros((1, 0, 32, 3), "float32"), "height and width of at least 1 pixel"),
    ],
)
def test_a_wrong_image_shape_gives_a_clear_error(exported, images, message):
    _, loaded = exported
    with pytest.raises(tf.errors.InvalidArgumentError) as caught:
        loaded.signatures["serving_default"](images=tf.constant(images))
    assert "serving_default: `images` must" in str(caught.value) and message in str(caught.value)


@pytest.mark.parametrize(
    "encoded, message",
    [
        ([b"not an image at all"], "must be an encoded JPEG or PNG"),
        ([b""], "must be an encoded JPEG or PNG"),
        (b"\x89PNG\r\n\x1a\n", "must be a 1-D batch of encoded images"),
        ([[b"\x89PNG\r\n\x1a\n"]], "must be a 1-D batch of encoded images"),
    ],
)
def test_bad_bytes_give_a_clear_error(exported, encoded, message):
    _, loaded = exported
    with pytest.raises(tf.errors.InvalidArgumentError) as caught:
        loaded.signatures["serving_bytes"](image_bytes=tf.constant(encoded))
    assert "serving_bytes: " in str(caught.value) and message in str(caught.value)


def test_any_image_size_and_grayscale_png_are_accepted(exported):
    _, loaded = exported
    out = loaded.signatures["serving_default"](images=tf.fill([2, 7, 300, 3], 128.0))
    assert out["probabilities"].shape == (2, 10)
    np.testing.assert_allclose(out["probabilities"].numpy().sum(axis=-1), 1.0, atol=1e-5)
    gray = tf.io.encode_png(tf.fill([5, 9, 1], tf.constant(200, tf.uint8)))
    rgb = tf.io.encode_png(tf.fill([5, 9, 3], tf.constant(200, tf.uint8)))
    out = loaded.signatures["serving_bytes"](image_bytes=tf.stack([gray, rgb]))
    # A gray PNG decodes to three equal channels: the same pixels as the RGB one.
    np.testing.assert_allclose(out["probabilities"][0], out["probabilities"][1], atol=1e-6)


def test_features_are_the_input_of_the_layout_head():
    import keras

    from keras_vit.export.signatures import ServingSignatures
    from tests.layout_model import laid_out_model

    model = laid_out_model()  # the classifier is "top", the pooling "mean": no layer is named "head"
    signatures = ServingSignatures(model, keras.layers.Identity(), include_features=True, jit_compile=False)
    x = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    pooled = keras.Model(model.input, model.get_layer("mean").output)(x)
    np.testing.assert_allclose(np.asarray(signatures.core(x)["features"]), np.asarray(pooled), rtol=1e-6)
    with pytest.raises(ValueError, match=r"include_features=True needs a keras_vit zoo model \(model.layout\)"):
        ServingSignatures(keras.Model(model.input, model.output), keras.layers.Identity(), include_features=True)
