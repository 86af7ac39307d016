"""Every zoo spec, at its tiny size: build, forward, a training step, `.keras` round trip, XLA equals eager."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_vit
from keras_vit.testing import assert_keras_round_trip, randomize_weights

ZOO = keras_vit.list_models()
# Wider or deeper twins of a model whose tiny spec trains in the default run (bit_r50x1, vit_r50_b16, tnt_s16): the
# same layers and code paths, so their training check runs in the `slow` step to keep the default suite short.
TWINS = {"bit_r50x3", "bit_r101x1", "bit_r101x3", "bit_r152x2", "bit_r152x4", "vit_r50_l32", "tnt_b16",
         # DeiT's tiny specs equal vit_ti16's (plain), deit_ti16_distilled's or deit3_s16's; vit_m16_reg4_gap adds
         # to vit_b16_reg4_gap only the LayerScale that deit3_s16 trains.
         "deit_ti16", "deit_s16", "deit_b16", "deit_s16_distilled", "deit_b16_distilled", "deit_b16_distilled_384",
         "deit3_b16", "deit3_l16", "vit_m16_reg4_gap",
         # The plain ViTs differ from vit_ti16 only in size, which their tiny specs take away; vit_r26_s32 is
         # vit_r50_b16's stem with fewer units.
         "vit_s16", "vit_s32", "vit_b16", "vit_b32", "vit_b8", "vit_l16", "vit_l32", "vit_h14", "vit_r26_s32",
         # DINOv2's tiny specs differ only in width (taken away) from dinov2_s14_reg4's or deit3_s16's.
         "dinov2_s14", "dinov2_b14", "dinov2_b14_reg4", "dinov2_l14_reg4",
         # and the other SigLIP towers' from siglip_b16_224's
         "siglip_b16_256", "siglip_l16_256", "siglip_so400m14_224",
         # eva02_ti14 trains the packed SwiGLU, eva02_b14 the inner norm; eva02_b14_448's tiny spec is eva02_b14's
         "eva02_s14", "eva02_b14_448"}
DEFAULT_RUN = [pytest.param(n, marks=pytest.mark.slow) if n in TWINS else n for n in ZOO]


def tiny_inputs(model, batch=2, seed=0):
    _, h, w, c = model.input_shape
    return np.random.default_rng(seed).normal(size=(batch, h, w, c)).astype("float32")


@pytest.mark.parametrize("name", DEFAULT_RUN)
def test_tiny_spec_builds_trains_and_round_trips(name):
    spec = keras_vit.get_spec(name).tiny_spec()
    model = keras_vit.build(spec)
    x = tiny_inputs(model)
    randomize_weights(model)
    assert np.std(np.asarray(model(x))) > 1e-3, "outputs do not depend on the inputs; the comparison would be vacuous"
    assert_keras_round_trip(model, x, atol=1e-5)
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    y = np.arange(len(x)) % spec.model["num_classes"]
    losses = model.fit(x, y, epochs=3, batch_size=len(x), verbose=0).history["loss"]
    assert losses[-1] < losses[0], f"{name}: loss did not fall on a repeated batch: {losses}"


@pytest.mark.parametrize("name", DEFAULT_RUN)
def test_xla_matches_eager(name):
    model = keras_vit.build(keras_vit.get_spec(name).tiny_spec())
    x = tiny_inputs(model, seed=1)
    randomize_weights(model, seed=1)
    compiled = tf.function(lambda t: model(t, training=False), jit_compile=True)
    np.testing.assert_allclose(np.asarray(compiled(x)), np.asarray(model(x)), atol=1e-5)


def test_mixed_bfloat16_model_forward():
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = keras_vit.build(keras_vit.get_spec("vit_ti16").tiny_spec())
    out = model(tiny_inputs(model))
    assert np.isfinite(np.asarray(keras.ops.cast(out, "float32"))).all()
    assert model.get_layer("block_0").attention.qkv.kernel.dtype == "float32"  # variables stay float32
    assert keras.backend.standardize_dtype(model.get_layer("block_0").compute_dtype) == "bfloat16"


def test_mixed_float16_model_compiles_with_loss_scaling(tmp_path):
    model = keras_vit.build(keras_vit.get_spec("vit_ti16").tiny_spec(), dtype="mixed_float16")
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras", compile=False)
    assert reloaded.dtype_policy.name == "mixed_float16"
    assert keras_vit.build(keras_vit.get_spec("vit_ti16").tiny_spec()).dtype_policy.name == "float32"


@pytest.mark.parametrize("name", ["vit_ti16", "tnt_s16", "vit_r_ti16", "bit_r50x1"])
def test_mixed_bfloat16_logits_are_float32(name):
    # A softmax or cross-entropy over bfloat16 logits loses accuracy: every family hands back float32 logits.
    model = keras_vit.build(keras_vit.get_spec(name).tiny_spec(), dtype="mixed_bfloat16")
    assert keras.backend.standardize_dtype(model.outputs[0].dtype) == "float32"
    assert keras.backend.standardize_dtype(model(tiny_inputs(model)).dtype) == "float32"


@pytest.mark.parametrize(
    "shape,message",
    [((1, 64, 64, 3), r"\(batch, 32, 32, 3\).*\(1, 64, 64, 3\)"), ((1, 32, 32, 1), r"32x32 with 3 channels")],
)
def test_wrong_image_shape_is_a_clear_error(shape, message):
    model = keras_vit.build(keras_vit.get_spec("vit_ti16").tiny_spec())
    with pytest.raises(ValueError, match=message):
        model.predict(np.zeros(shape, "float32"), verbose=0)
    with pytest.raises(ValueError):
        model(np.zeros(shape, "float32"))


def test_create_accepts_the_documented_overrides():
    model = keras_vit.create(
        "vit_b16", num_classes=5, image_size=(32, 48), patch_size=8, hidden_dim=32, num_layers=1, num_heads=2,
        intermediate_dim=64, pooling="gap", dropout_rate=0.1, drop_path_rate=0.1, position_encoding="learned_2d",
    )
    assert model.input_shape == (None, 32, 48, 3) and model.output_shape == (None, 5)
    assert model.get_layer("position_embedding").row_embeddings.shape == (4, 32)
    assert model.get_layer("position_embedding").column_embeddings.shape == (6, 32)
    config = model.get_config()
    assert config["pooling"] == "gap" and config["drop_path_rate"] == 0.1 and config["name"] == "vit_b16"


def test_drop_path_grows_linearly_over_blocks():
    model = keras_vit.create("vit_b16", **{**keras_vit.get_spec("vit_b16").tiny, "num_layers": 5}, drop_path_rate=0.2)
    rates = [model.get_layer(f"block_{i}").drop_path_rate for i in range(5)]
    np.testing.assert_allclose(rates, [0.0, 0.05, 0.1, 0.15, 0.2])
