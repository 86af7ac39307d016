"""LiteRT, ONNX and OpenVINO files, each run in its real runtime (ai-edge-litert, onnxruntime, openvino) against the
Keras model: float32 within 1e-4 relative, int8 LiteRT by top-1 agreement."""

import os
import sys

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.export.formats import load_runtime
from tests.export.helpers import FAMILIES, reference, tiny_model

RUNTIMES = {"litert": "ai_edge_litert", "onnx": "onnxruntime", "openvino": "openvino"}
SUFFIX = {"litert": ".tflite", "onnx": ".onnx", "openvino": ".xml"}


def runtime_or_skip(format_name):
    pytest.importorskip(RUNTIMES[format_name])
    if format_name == "onnx":
        pytest.importorskip("tf2onnx")


def pixels(model, batch, seed):
    shape = (batch, *model.inputs[0].shape[1:])
    return np.random.default_rng(seed).uniform(0, 255, size=shape).astype("float32")


# The ViT runs in the default suite; the TNT and the hybrid (slower to convert) in the slow step.
CASES = [
    pytest.param(name, format_name, marks=() if name == "vit_ti16" else pytest.mark.slow)
    for name in FAMILIES for format_name in RUNTIMES
]


@pytest.mark.parametrize("name, format_name", CASES)
def test_the_file_runs_in_its_runtime_like_the_keras_model(name, format_name, tmp_path):
    runtime_or_skip(format_name)
    model = tiny_model(name)
    path = tmp_path / f"{name}{SUFFIX[format_name]}"
    result = keras_vit.export(model, path, format=format_name, verbose=False)
    assert result.path == str(path) and os.path.isfile(path)
    if format_name == "openvino":
        assert sorted(os.path.basename(f) for f in result.files) == [f"{name}.bin", f"{name}.xml"]
    assert [name for name in os.listdir(tmp_path) if name.startswith(".")] == []  # no temporary left
    predict = load_runtime(path)
    for batch, seed in ((1, 0), (3, 1)):
        images = pixels(model, batch, seed)
        expected = reference(model, images)["probabilities"]  # NumPy normalization and softmax, eager Keras
        np.testing.assert_allclose(predict(images), expected, rtol=1e-4, atol=1e-6)
    assert expected.max() - expected.min() > 1e-3  # not vacuous: randomized weights spread the probabilities


@pytest.mark.slow
def test_int8_litert_agrees_with_the_float_model_and_is_smaller(tmp_path):
    runtime_or_skip("litert")
    model = tiny_model("vit_ti16", seed=4)
    float_file = keras_vit.export(model, tmp_path / "float.tflite", format="litert", verbose=False)
    int8_file = keras_vit.export(model, tmp_path / "int8.tflite", format="litert", quantize="int8", check=True,
                                 verbose=False)
    assert int8_file.quantize == "int8"
    assert os.path.getsize(int8_file.path) < 0.6 * os.path.getsize(float_file.path)
    images = pixels(model, 32, 5)
    expected = reference(model, images)["probabilities"]
    agreement = np.mean(np.argmax(load_runtime(int8_file.path)(images), -1) == np.argmax(expected, -1))
    assert agreement >= 0.9


@pytest.mark.slow
def test_check_runs_the_file_in_its_runtime(tmp_path, capsys):
    runtime_or_skip("onnx")
    model = tiny_model("vit_ti16", seed=5)
    keras_vit.export(model, tmp_path / "vit.onnx", format="onnx", check=True)
    assert "in its onnx runtime matches the Keras model" in capsys.readouterr().out


def test_bad_file_exports_say_what_to_do(tmp_path):
    model = tiny_model("vit_ti16")
    with pytest.raises(ValueError, match=r"format='onnx' writes one .onnx file; pass a path ending in .onnx"):
        keras_vit.export(model, tmp_path / "vit", format="onnx")
    with pytest.raises(ValueError, match=r"`format` must be one of \('tf_saved_model', 'litert', 'onnx', 'openvino'\)"):
        keras_vit.export(model, tmp_path / "vit.pt", format="torchscript")
    with pytest.raises(ValueError, match="labels, top_k apply to format='tf_saved_model' only"):
        keras_vit.export(model, tmp_path / "vit.tflite", format="litert", labels=list("abcdefghij"), top_k=3)
    with pytest.raises(ValueError, match="quantize='int8' is available for format='tf_saved_model' and 'litert'"):
        keras_vit.export(model, tmp_path / "vit.onnx", format="onnx", quantize="int8")
    (tmp_path / "taken.xml").write_text("a user's file")
    with pytest.raises(FileExistsError, match="taken.xml exists already; an export never overwrites a file"):
        keras_vit.export(model, tmp_path / "taken.xml", format="openvino")
    assert (tmp_path / "taken.xml").read_text() == "a user's file"
    with pytest.raises(ValueError, match="cannot tell the format of"):
        load_runtime(tmp_path / "model.bin")
    assert sorted(os.listdir(tmp_path)) == ["taken.xml"]


def test_a_litert_check_without_its_runtime_writes_nothing(tmp_path, monkeypatch):
    # Issue 27: without ai_edge_litert, check=True failed after writing, and the retry was refused ("exists already").
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)  # what Python does for a package that is not installed
    with pytest.raises(ImportError, match=r"format='litert' needs the package 'ai-edge-litert': pip install"):
        keras_vit.export(tiny_model("vit_ti16"), tmp_path / "vit.tflite", format="litert", check=True)
    assert os.listdir(tmp_path) == []  # nothing to refuse a retry over


def test_exporting_a_model_that_takes_no_images_says_so(tmp_path):
    # Issue 27: a plain Keras model of vectors got "not enough values to unpack (expected 4, got 2)".
    inputs = keras.Input((10,))
    vectors = keras.Model(inputs, keras.layers.Dense(3)(inputs), name="vectors")
    with pytest.raises(ValueError, match=r"Model 'vectors' takes inputs of shape \(None, 10\), not images \(batch, "
                                         r"height, width, channels\)"):
        keras_vit.export(vectors, tmp_path / "models" / "vectors")
    assert os.listdir(tmp_path) == []
