"""int8 through Keras's model.quantize on every zoo family: what is quantized, how close it stays, .keras round trips,
and the int8 SavedModel export."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_vit
from keras_vit.compat import nested_layers
from keras_vit.quantization import quantize, quantized_layers
from keras_vit.testing import randomize_weights

# One of each family: ViT, TNT, hybrid, BiT ResNet, and a DeiT with its distillation head (the slower ones in the
# slow step).
FAMILIES = [
    pytest.param(name, marks=() if name in ("vit_ti16", "bit_r50x1") else pytest.mark.slow)
    for name in ("vit_ti16", "tnt_s16", "vit_r_ti16", "bit_r50x1", "deit_ti16_distilled")
]


def tiny(name, seed=0):
    return randomize_weights(keras_vit.create(name, **keras_vit.get_spec(name).tiny), scale=0.2, seed=seed)


def images(model, batch=4, seed=0):
    shape = (batch, *model.inputs[0].shape[1:])
    return np.random.default_rng(seed).uniform(-1, 1, size=shape).astype("float32")


def dense_paths(model):
    """Every Dense and EinsumDense in the float model: what Keras 3.15 can hold in int8."""
    kinds = (keras.layers.Dense, keras.layers.EinsumDense)
    return sorted(layer.path for layer in nested_layers(model) if isinstance(layer, kinds))


@pytest.mark.parametrize("name", FAMILIES)
def test_every_dense_layer_is_int8_and_the_outputs_stay_close(name, tmp_path):
    model = tiny(name)
    x = images(model)
    before = np.asarray(model(x, training=False))
    quantized = quantize(model)
    # The given model is left as it was.
    assert quantized_layers(model) == []
    np.testing.assert_array_equal(np.asarray(model(x, training=False)), before)
    assert sorted(quantized_layers(quantized)) == dense_paths(model) != []
    for layer in nested_layers(quantized):
        if layer.quantization_mode:
            assert layer.kernel.dtype == "int8", layer.path
    got = np.asarray(quantized(x, training=False))
    # int8 weights (per output channel) and inputs (per token): about 1% of the signal, never more than 5%.
    error = np.linalg.norm(got - before) / np.linalg.norm(before)
    assert 0 < error < 0.05, error
    # .keras round trip: the loaded model is int8 in the same layers and computes the same outputs.
    path = tmp_path / "int8.keras"
    quantized.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert sorted(quantized_layers(loaded)) == sorted(quantized_layers(quantized))
    np.testing.assert_allclose(np.asarray(loaded(x, training=False)), got, rtol=1e-6, atol=1e-6)
    assert isinstance(loaded.get_config()["dtype"], keras.dtype_policies.DTypePolicyMap)


def test_bad_quantize_calls_say_what_to_do():
    model = tiny("vit_ti16")
    with pytest.raises(ValueError, match=r"`mode` must be one of \('int8',\); received 'int4'"):
        quantize(model, "int4")
    with pytest.raises(TypeError, match="must be a built keras.Model; received str"):
        quantize("vit_ti16")
    with pytest.raises(ValueError, match="is quantized already; pass the float model"):
        quantize(quantize(model))
    half = keras_vit.create("vit_ti16", **keras_vit.get_spec("vit_ti16").tiny, dtype="mixed_float16")
    with pytest.raises(ValueError, match="computes in float16"):
        quantize(half)
    with pytest.raises(ValueError, match=r"`quantize` must be None or one of \('int8',\); received 'int4'"):
        keras_vit.export(model, "unused", quantize="int4")


@pytest.mark.filterwarnings("ignore:Layer .* does not have a `quantize` method")
def test_fit_refuses_a_quantized_model_unless_lora_trains_it():
    # The user's input (issue 27): model.quantize("int8") and then fit, which trained with the int8 kernels frozen.
    model = tiny("vit_ti16")
    model.quantize("int8")
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = images(model, batch=8), np.arange(8) % model.outputs[0].shape[-1]
    with pytest.raises(ValueError, match=r"is quantized \(\d+ layers with frozen int8 kernels.*quantize it afterwards"):
        model.fit(x, y, epochs=1, verbose=0)
    # With LoRA on every int8 layer, fit trains the low-rank updates; the int8 kernels stay as they are.
    quantized = [layer for layer in nested_layers(model) if layer.quantization_mode]
    for layer in quantized:
        layer.enable_lora(2)
    kernels = [np.asarray(layer._kernel) for layer in quantized]
    lora_b = [np.asarray(layer.lora_kernel_b) for layer in quantized]
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=2, verbose=0)
    assert all(np.array_equal(np.asarray(layer._kernel), k) for layer, k in zip(quantized, kernels))
    assert any(not np.array_equal(np.asarray(layer.lora_kernel_b), b) for layer, b in zip(quantized, lora_b))

@pytest.mark.slow  # 44 s: a SavedModel export and its check; tests/export covers the export path itself
def test_an_int8_export_serves_the_quantized_model(tmp_path):
    model = tiny("vit_ti16", seed=2)
    result = keras_vit.export(model, tmp_path / "models" / "vit_int8", quantize="int8", jit_compile=False,
                              verbose=False)
    assert quantized_layers(model) == []  # exporting did not quantize the caller's model
    served = tf.saved_model.load(result.path)
    pixels = np.random.default_rng(1).uniform(0, 255, size=(3, 32, 32, 3)).astype("float32")
    out = served.signatures["serving_default"](images=tf.constant(pixels))["probabilities"].numpy()
    normalized = (pixels / 255.0 - 0.5) / 0.5
    expected_int8 = tf.nn.softmax(quantize(model)(normalized, training=False)).numpy()
    expected_float = tf.nn.softmax(model(normalized, training=False)).numpy()
    np.testing.assert_allclose(out, expected_int8, atol=1e-5)
    assert np.abs(out - expected_float).max() > 1e-6  # it is the int8 model, not the float one
    # The variables in the SavedModel are int8 kernels.
    assert any(v.dtype == tf.int8 for v in served.variables)


@pytest.mark.slow  # XLA compiles the int8 graph once per batch size
def test_an_xla_compiled_int8_export_passes_its_check(tmp_path):
    result = keras_vit.export(tiny("vit_ti16", seed=2), tmp_path / "vit_int8", quantize="int8", check=True,
                              verbose=False)
    assert result.jit_compile is True


@pytest.mark.slow  # two command processes
def test_the_quantize_command_writes_an_int8_keras_file(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    model = tiny("vit_ti16", seed=3)
    source, out = tmp_path / "float.keras", tmp_path / "int8.keras"
    model.save(source)
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, "-m", "keras_vit.cli", "quantize", "--from", str(source), "--out", str(out)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Wrote {out}: 'vit_ti16' with {len(dense_paths(model))} int8 layers" in result.stdout
    loaded = keras.saving.load_model(out, compile=False)
    x = images(model)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(quantize(model)(x)), rtol=1e-6, atol=1e-6)
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode != 0 and "exists already; pass another --out" in again.stderr
