"""What a recipe's `run.jit_compile: auto` resolves to (keras_vit.train.default_jit_compile, docs/speed.md)."""

import keras
import tensorflow as tf

import keras_vit
from keras_vit.train import strategy as strategy_lib


def _tiny(**overrides):
    return keras_vit.create(keras_vit.get_spec("vit_ti16").tiny_spec(), **overrides)


def test_xla_on_cpu_for_float32():
    assert strategy_lib.default_jit_compile(_tiny(), tf.distribute.get_strategy()) is True


def test_no_xla_for_bfloat16_where_onednn_has_bfloat16_kernels(monkeypatch):
    model = _tiny(dtype="mixed_bfloat16")
    monkeypatch.setattr(strategy_lib, "onednn_bfloat16_available", lambda: True)
    assert strategy_lib.default_jit_compile(model, tf.distribute.get_strategy()) is False
    monkeypatch.setattr(strategy_lib, "onednn_bfloat16_available", lambda: False)
    assert strategy_lib.default_jit_compile(model, tf.distribute.get_strategy()) is True


def test_no_xla_under_several_replicas():
    class TwoReplicas:
        num_replicas_in_sync = 2

    assert strategy_lib.default_jit_compile(_tiny(), TwoReplicas()) is False


def test_onednn_switch_off_means_no_onednn_bfloat16(monkeypatch):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    assert strategy_lib.onednn_bfloat16_available() is False


def test_a_recipe_run_compiles_with_the_resolved_default(tmp_path):
    summary = keras_vit.train("mnist_vit", epochs=1, steps_per_epoch=1, eval_steps=1, output_dir=str(tmp_path / "run"),
                              model={"name": "vit_ti16", "num_layers": 1, "hidden_dim": 16, "num_heads": 2,
                                     "intermediate_dim": 32, "patch_size": 7})
    assert summary.model.jit_compile is True
    assert isinstance(summary.model, keras.Model)
