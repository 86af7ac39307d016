"""Zoo models use XLA by default in predict/fit/evaluate, give the same numbers as without it, respect an explicit
jit_compile=False and fall back (one warning) when a layer cannot be compiled."""

import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.ops import control_flow_util

import keras_vit
from keras_vit.models.zoo_model import ZooModel
from keras_vit.testing import randomize_weights


class NumpyDoubler(keras.layers.Layer):
    """Doubles its input through tf.numpy_function, which XLA cannot compile (a stand-in for a plugin layer)."""

    def call(self, x):
        y = tf.numpy_function(lambda a: (2.0 * a).astype(np.float32), [x], tf.float32, stateful=False)
        y.set_shape(x.shape)
        return y

    def compute_output_shape(self, input_shape):
        return input_shape


class XlaProbe(keras.layers.Layer):
    """Identity that records, each time it is traced, whether the trace is inside an XLA-compiled function."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.traced_in_xla = []

    def call(self, x):
        if not tf.executing_eagerly():
            self.traced_in_xla.append(control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))
        return x


class TinyZoo(ZooModel):
    """A zoo model (ZooModel subclass) of a given middle layer, then flatten and a dense layer of `width` units."""

    def __init__(self, middle="probe", width=3, **kwargs):
        inputs = keras.Input((4, 4, 2))
        layer = NumpyDoubler(name="middle") if middle == "numpy" else XlaProbe(name="middle")
        x = keras.layers.Flatten()(layer(inputs))
        outputs = keras.layers.Dense(width, name="dense")(x)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self._store_config(locals())


def _images(model, n=4, seed=1):
    return np.random.default_rng(seed).normal(size=(n, *model.inputs[0].shape[1:])).astype("float32")


@pytest.mark.parametrize("name", ["vit_ti16", "tnt_s16"])
def test_default_predict_is_compiled_and_matches_uncompiled(name):
    model = keras_vit.create(name, **keras_vit.get_spec(name).tiny)
    randomize_weights(model)
    x = _images(model)
    assert model.jit_compile is True  # before any compile(): XLA on CPU too (Keras's "auto" would say False)
    compiled = model.predict(x, verbose=0)
    eager = keras.ops.convert_to_numpy(model(x, training=False))
    model.compile(jit_compile=False)
    assert model.jit_compile is False
    graph = model.predict(x, verbose=0)
    assert np.abs(eager).max() > 1e-2  # randomized weights: the comparison is not between zeros
    np.testing.assert_allclose(compiled, eager, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(graph, eager, atol=1e-5, rtol=1e-5)


def test_default_compile_fit_and_evaluate_are_compiled():
    model = TinyZoo()
    model.compile(optimizer="sgd", loss="mse")
    assert model.jit_compile is True
    probe = model.get_layer("middle")
    x, y = _images(model), np.zeros((4, 3), "float32")
    # Keras also traces the model once outside any step to infer shapes (a False entry); the steps are XLA.
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert True in probe.traced_in_xla
    probe.traced_in_xla.clear()
    model.evaluate(x, y, verbose=0)
    assert True in probe.traced_in_xla
    probe.traced_in_xla.clear()
    model.predict(x, verbose=0)
    assert True in probe.traced_in_xla


def test_explicit_jit_compile_false_wins():
    model = TinyZoo()
    model.compile(optimizer="sgd", loss="mse", jit_compile=False)
    probe = model.get_layer("middle")
    x, y = _images(model), np.zeros((4, 3), "float32")
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    model.predict(x, verbose=0)
    assert model.jit_compile is False
    assert probe.traced_in_xla and not any(probe.traced_in_xla)


def test_training_step_with_and_without_xla_agree():
    name = "vit_ti16"
    results = []
    for jit in (True, False):
        keras.utils.set_random_seed(3)
        model = keras_vit.create(name, **keras_vit.get_spec(name).tiny)
        randomize_weights(model)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                      **({} if jit else {"jit_compile": False}))
        assert model.jit_compile is jit
        initial = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
        x = _images(model, n=8, seed=2)
        y = np.arange(8) % model.outputs[0].shape[-1]
        model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
        results.append([keras.ops.convert_to_numpy(v) for v in model.trainable_variables])
        assert max(np.abs(a - b).max() for a, b in zip(initial, results[-1])) > 1e-3  # the steps moved weights
    for with_xla, without in zip(*results):
        np.testing.assert_allclose(with_xla, without, atol=1e-5, rtol=1e-5)


def _expected_numpy_model_output(model, x):
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in model.get_layer("dense").weights)
    return (2.0 * x).reshape(len(x), -1) @ kernel + bias


def test_predict_falls_back_once_for_a_layer_xla_cannot_compile():
    model = TinyZoo(middle="numpy")
    x = _images(model)
    assert model.jit_compile is True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = model.predict(x, batch_size=2, verbose=0)
        second = model.predict(x, batch_size=2, verbose=0)
    xla_warnings = [w for w in caught if "could not be compiled with XLA" in str(w.message)]
    assert len(xla_warnings) == 1, [str(w.message) for w in caught]
    assert "jit_compile=False" in str(xla_warnings[0].message)
    assert model.jit_compile is False
    expected = _expected_numpy_model_output(model, x)  # every batch present, none lost to the failed attempt
    np.testing.assert_allclose(first, expected, atol=1e-5)
    np.testing.assert_allclose(second, expected, atol=1e-5)


def test_fit_and_evaluate_fall_back_before_consuming_data():
    model = TinyZoo(middle="numpy")
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    x, y = _images(model, n=6), np.zeros((6, 3), "float32")
    with pytest.warns(RuntimeWarning, match="could not be compiled with XLA"):
        history = model.fit(x, y, epochs=1, batch_size=2, shuffle=False, verbose=0)
    assert model.jit_compile is False
    # Learning rate 0: the loss is the mean over all six images of the untouched model, so no batch was skipped.
    expected = np.mean(_expected_numpy_model_output(model, x) ** 2)
    np.testing.assert_allclose(history.history["loss"][0], expected, rtol=1e-5)
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=2, verbose=0), expected, rtol=1e-5)


def test_evaluate_before_fit_falls_back_too():
    model = TinyZoo(middle="numpy")
    model.compile(loss="mse")
    x, y = _images(model, n=6), np.zeros((6, 3), "float32")
    with pytest.warns(RuntimeWarning, match="could not be compiled with XLA"):
        loss = model.evaluate(x, y, batch_size=2, verbose=0)
    np.testing.assert_allclose(loss, np.mean(_expected_numpy_model_output(model, x) ** 2), rtol=1e-5)


def test_predict_on_arrays_keeps_batches_and_order():
    model = TinyZoo()
    randomize_weights(model)
    x = _images(model, n=7)
    expected = x.reshape(7, -1) @ keras.ops.convert_to_numpy(model.get_layer("dense").kernel)
    expected += keras.ops.convert_to_numpy(model.get_layer("dense").bias)
    np.testing.assert_allclose(model.predict(x, batch_size=3, verbose=0), expected, atol=1e-5)  # 3 + 3 + 1
    np.testing.assert_allclose(model.predict(tf.constant(x), verbose=0), expected, atol=1e-5)
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(2)  # a dataset takes Keras's own path
    np.testing.assert_allclose(model.predict(dataset, verbose=0), expected, atol=1e-5)

    class CountBatches(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.sizes = []

        def on_predict_batch_end(self, batch, logs=None):
            self.sizes.append(len(logs["outputs"]))

    counter = CountBatches()  # callbacks still see every batch
    np.testing.assert_allclose(model.predict(x, batch_size=3, verbose=0, callbacks=[counter]), expected, atol=1e-5)
    assert counter.sizes == [3, 3, 1]


@pytest.mark.parametrize("onednn_bfloat16", [False, True], ids=["xla", "onednn"])
def test_mixed_bfloat16_on_the_default_path_follows_float32(monkeypatch, onednn_bfloat16):
    from keras_vit.models import compiled_defaults

    monkeypatch.setattr(compiled_defaults, "onednn_bfloat16_available", lambda: onednn_bfloat16)
    name = "vit_ti16"
    full = keras_vit.create(name, **keras_vit.get_spec(name).tiny)
    randomize_weights(full)
    mixed = keras_vit.create(name, dtype="mixed_bfloat16", **keras_vit.get_spec(name).tiny)
    mixed.set_weights(full.get_weights())
    x = _images(full)
    expected = keras.ops.convert_to_numpy(full(x, training=False))
    got = mixed.predict(x, verbose=0)  # bfloat16 compute, XLA unless oneDNN has bfloat16 kernels here
    assert mixed.jit_compile is not onednn_bfloat16
    assert got.dtype.name == "bfloat16" or np.issubdtype(got.dtype, np.floating)
    np.testing.assert_allclose(np.asarray(got, "float32"), expected, atol=0.05 * np.abs(expected).max() + 1e-3)
    mixed.compile(optimizer="adamw", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = mixed.fit(x, np.arange(4) % 10, epochs=1, verbose=0)
    assert mixed.jit_compile is not onednn_bfloat16 and np.isfinite(history.history["loss"][0])


def test_mixed_bfloat16_on_a_bfloat16_cpu_with_onednn_runs_without_xla(monkeypatch):
    from keras_vit.models import compiled_defaults

    name = "vit_ti16"
    for available, expected in ((True, False), (False, True)):
        monkeypatch.setattr(compiled_defaults, "onednn_bfloat16_available", lambda available=available: available)
        mixed = keras_vit.create(name, dtype="mixed_bfloat16", **keras_vit.get_spec(name).tiny)
        assert mixed.jit_compile is expected
        mixed.compile(optimizer="adamw", loss="mse")
        assert mixed.jit_compile is expected
        # float32 models keep XLA either way
        assert keras_vit.create(name, **keras_vit.get_spec(name).tiny).jit_compile is True


def test_onednn_bfloat16_detection_follows_the_environment_switch():
    # TF_ENABLE_ONEDNN_OPTS is read once per process, so each value needs its own interpreter.
    code = ("from keras_vit.models.compiled_defaults import onednn_bfloat16_available as a, _cpu_flags as f;"
            "print(a(), bool(f() & {'avx512_bf16', 'amx_bf16'}))")
    results = {}
    for value in ("0", "1"):
        env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": value}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        results[value] = out.stdout.split()
    assert results["0"][0] == "False"
    assert results["1"][0] == results["1"][1]  # on: available exactly when the CPU has bfloat16 instructions


def test_predict_on_arrays_shows_progress_unless_quiet(capsys):
    model = TinyZoo()
    x = _images(model, n=5)
    model.predict(x, batch_size=2, verbose=0)
    assert capsys.readouterr().out == ""
    model.predict(x, batch_size=2)  # verbose="auto": a progress bar over the 3 batches, as Keras shows
    assert "3/3" in capsys.readouterr().out
    with pytest.raises(ValueError, match="0 samples"):
        model.predict(x[:0])


def test_default_is_no_xla_under_a_strategy_scope():
    name = "vit_ti16"
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        model = keras_vit.create(name, **keras_vit.get_spec(name).tiny)
        assert model.jit_compile is False
    model.compile(loss="mse")  # outside the scope: the model's strategy still counts, as in Keras
    assert model.jit_compile is False
    assert keras_vit.create(name, **keras_vit.get_spec(name).tiny).jit_compile is True


DETERMINISM_JOB = """
import warnings
import tensorflow as tf
import keras_vit

tf.config.experimental.enable_op_determinism()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    model = keras_vit.create("vit_ti16", **keras_vit.get_spec("vit_ti16").tiny)
    first = model.jit_compile
    model.compile(loss="mse")
print(first, model.jit_compile, [str(w.message) for w in caught if "jit_compile" in str(w.message)])
"""


def test_default_is_no_xla_with_op_determinism_and_says_nothing():
    # enable_op_determinism cannot be undone in a process, hence a fresh interpreter.
    out = subprocess.run([sys.executable, "-c", DETERMINISM_JOB], capture_output=True, text=True, check=True,
                         timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "False False []"


def test_a_saved_compiled_model_loads_compiled_with_its_optimizer_state(tmp_path):
    # Keras skips compile_from_config for models that override compile(); ours restores it.
    model = keras_vit.create("vit_ti16", image_size=32, patch_size=8, num_classes=3, hidden_dim=32, num_layers=1,
                             num_heads=2, intermediate_dim=64)
    model.compile(optimizer="adamw", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    images, labels = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype("float32"), np.arange(4) % 3
    model.fit(images, labels, epochs=2, verbose=0)
    model.save(tmp_path / "compiled.keras")
    restored = keras.saving.load_model(tmp_path / "compiled.keras")
    assert restored.compiled and type(restored.optimizer) is keras.optimizers.AdamW
    assert int(restored.optimizer.iterations) == int(model.optimizer.iterations) == 2
    for ours, theirs in zip(model.optimizer.variables, restored.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_fit_on_arrays_trains_on_the_same_batches_as_keras_own_pipeline():
    # Zoo models cut fit's batches from arrays themselves (a one-thread private tf.data pool, docs/speed.md): two
    # epochs with a partial last batch must end with exactly the weights Keras's own array pipeline gives.
    def train(fit):
        keras.utils.set_random_seed(0)
        model = keras_vit.create("vit_ti16", image_size=32, patch_size=8, num_classes=3, hidden_dim=32,
                                 num_layers=2, num_heads=2, intermediate_dim=64)
        model.compile(optimizer="adamw", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        images = np.random.default_rng(1).normal(size=(10, 32, 32, 3)).astype("float32")
        history = fit(model, images, np.arange(10) % 3, batch_size=4, epochs=2, shuffle=False, verbose=0)
        return [np.asarray(v) for v in model.weights], history.history["loss"]

    used = []

    def our_fit(model, *args, **kwargs):
        used.append(model._array_dataset(*args[:2], kwargs).options().threading.private_threadpool_size)
        return model.fit(*args, **kwargs)

    ours, our_losses = train(our_fit)
    keras_own, keras_losses = train(keras.Model.fit)
    assert used == [1]
    assert our_losses == keras_losses
    for mine, theirs in zip(ours, keras_own):
        np.testing.assert_array_equal(mine, theirs)
