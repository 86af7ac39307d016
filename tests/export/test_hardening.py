"""The serving path under misuse found by trying it as a user would (issue 16): concurrent exports into one server
root, non-finite pixels, a bytes batch with one bad element, a killed export, a grayscale model."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

import keras_vit
from keras_vit.export import exporter, model_config
from keras_vit.export.layout import remove_stale_temporaries, write_version
from keras_vit.testing import randomize_weights
from tests.export.helpers import normalize, tiny_model

LAYOUT_FILE = Path(keras_vit.export.layout.__file__)
FAST = {"jit_compile": False, "verbose": False}


@pytest.fixture(scope="module")
def model():
    return tiny_model("vit_ti16")


@pytest.fixture(scope="module")
def served(model, tmp_path_factory):
    result = keras_vit.export(model, tmp_path_factory.mktemp("hardening") / "models" / "vit", **FAST)
    return tf.saved_model.load(result.path)


def config_names(path):
    config = model_config.config_class()()
    text_format.Parse(Path(path).read_text(), config)
    return sorted(entry.name for entry in config.model_config_list.config)


def test_an_export_finishing_during_another_keeps_both_models_in_the_config(model, tmp_path, monkeypatch):
    models = tmp_path / "models"
    real_write_version = exporter.write_version

    def second_export_meanwhile(base, version, write):
        # The first export has read models.config (to check it early) and is now writing its SavedModel: the
        # second export starts and finishes in that time, as a parallel job into the same server root would.
        if base.endswith("first"):
            keras_vit.export(model, models / "second", **FAST)
        return real_write_version(base, version, write)

    monkeypatch.setattr(exporter, "write_version", second_export_meanwhile)
    keras_vit.export(model, models / "first", **FAST)
    assert config_names(models / "models.config") == ["first", "second"]


def test_config_updates_from_many_threads_lose_no_entry(tmp_path, monkeypatch):
    path = str(tmp_path / "models.config")
    real = model_config.updated_config_text

    def slow(*args, **kwargs):  # widen the window between reading the file and writing it back
        result = real(*args, **kwargs)
        time.sleep(0.02)
        return result

    monkeypatch.setattr(model_config, "updated_config_text", slow)
    names = [f"model_{i}" for i in range(8)]
    threads = [threading.Thread(target=model_config.add_model, args=(path, name, f"/models/{name}")) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert config_names(path) == names


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_pixels_get_a_clear_error_not_classes(served, bad):
    images = np.full((2, 32, 32, 3), 100.0, "float32")
    images[1, 3, 4, 0] = bad
    images[1, 5, 6, 2] = bad
    with pytest.raises(tf.errors.InvalidArgumentError) as caught:
        served.signatures["serving_default"](images=tf.constant(images))
    message = str(caught.value)
    assert "serving_default: `images` must be float32 pixels" in message
    assert "it holds NaN or infinite values" in message and "Number of such values:] [2]" in message


def test_a_bytes_batch_with_one_junk_element_names_it_without_raw_bytes(served):
    png = tf.io.encode_png(np.full((8, 8, 3), 7, "uint8")).numpy()
    junk = b"\x00\xff\xfe junk \x89\xc3"  # not UTF-8: echoing it made the error itself fail to decode
    with pytest.raises(tf.errors.InvalidArgumentError) as caught:
        served.signatures["serving_bytes"](image_bytes=tf.constant([png, junk, png]))
    message = str(caught.value)
    assert "every element of `image_bytes` must be an encoded JPEG or PNG" in message
    assert "indices] [1] [are not" in message
    assert "[[0 255 254 32 106 117 110 107]]" in message  # junk's first 8 bytes, as numbers
    # The valid elements still serve on their own.
    out = served.signatures["serving_bytes"](image_bytes=tf.constant([png, png]))
    assert out["probabilities"].shape == (2, 10)
    # Issue 27: a PNG cut to 60 bytes passed this check and failed in the decoder, which names no element.
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"the elements of `image_bytes` at \(0-based\) indices\] \[2\] \[are PNG files cut short"):
        served.signatures["serving_bytes"](image_bytes=tf.constant([png, png, png[:60]]))


KILLED_EXPORT = """
import importlib.util, os, sys, time
spec = importlib.util.spec_from_file_location("layout", sys.argv[1])
layout = importlib.util.module_from_spec(spec)
spec.loader.exec_module(layout)

def write(folder):
    os.makedirs(folder)
    with open(os.path.join(folder, "saved_model.pb"), "wb") as file:
        file.write(b"half a model")
    print("writing", flush=True)
    time.sleep(600)

layout.write_version(sys.argv[2], 5, write)
"""


def test_a_killed_exports_temporary_folder_is_removed_by_the_next_export(tmp_path):
    base = tmp_path / "vit"
    # The export's folder code is the standard library only: the child loads it by path, without TensorFlow.
    child = subprocess.Popen([sys.executable, "-c", KILLED_EXPORT, str(LAYOUT_FILE), str(base)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
        (temporary,) = [name for name in os.listdir(base) if not name.endswith(".lock")]
        assert temporary.startswith(".tmp-5-")
        # While that export runs, another one leaves its folder alone.
        assert remove_stale_temporaries(str(base)) == []
        assert (base / temporary / "saved_model.pb").exists()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        child.stdout.close()
    assert (base / temporary).exists()  # what a killed export leaves

    def write(folder):
        os.makedirs(folder)
        (Path(folder) / "saved_model.pb").write_bytes(b"a whole model")

    write_version(str(base), 1, write)
    assert sorted(os.listdir(base)) == ["1"]


@pytest.fixture(scope="module")
def gray(tmp_path_factory):
    model = keras_vit.create("vit_ti16", **keras_vit.get_spec("vit_ti16").tiny, num_channels=1)
    model = randomize_weights(model, scale=0.2, seed=1)
    result = keras_vit.export(model, tmp_path_factory.mktemp("gray") / "models" / "digits", **FAST)
    return model, tf.saved_model.load(result.path)


def test_a_grayscale_models_signature_and_errors_say_one_channel(gray):
    model, served = gray
    with pytest.raises(tf.errors.InvalidArgumentError) as caught:
        served.signatures["serving_default"](images=tf.zeros([1, 32, 32, 3]))
    message = str(caught.value)
    assert "float32 pixels of shape [batch, height, width, 1] (grayscale values in [0, 255])" in message
    assert "the last dimension (channels) is not 1" in message and "RGB" not in message
    # Gray pixels and the same pixels as a PNG give the Keras model's answer.
    pixels = np.random.default_rng(0).integers(0, 256, size=(2, 32, 32, 1)).astype("uint8")
    expected = tf.nn.softmax(model(normalize(pixels), training=False)).numpy()
    out = served.signatures["serving_default"](images=tf.constant(pixels, tf.float32))
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)
    pngs = tf.constant([tf.io.encode_png(p).numpy() for p in pixels])
    np.testing.assert_allclose(served.signatures["serving_bytes"](image_bytes=pngs)["probabilities"], expected,
                               atol=1e-5)
