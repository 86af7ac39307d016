"""Hybrid ViTs (ResNet stem + ViT) and BiT ResNets: published parameter counts, training, saving, precision, XLA."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_vit
from keras_vit.testing import randomize_weights

RNG = np.random.default_rng(0)

# Counts of the original ViT release (google-research/vision_transformer) at 224 with 1000 classes.
HYBRID_COUNTS = {
    "vit_r50_b16": 98_659_112,
    "vit_r50_l32": 328_994_856,
    "vit_r26_s32": 36_431_912,
    "vit_r_ti16": 6_337_704,
}


def bit_closed_form_count(stage_sizes, width_factor, num_classes=1000):
    """Parameters of a BiT ResNet written out from the architecture: root conv; per unit a GroupNorm (scale and
    shift) before each of its three convolutions, the 1x1, 3x3, 1x1 kernels, and a 1x1 projection in the first unit
    of each stage; a final GroupNorm; a dense head with bias."""
    width = 64 * width_factor
    total = 7 * 7 * 3 * width
    channels = width
    for stage, size in enumerate(stage_sizes):
        mid = width * 2**stage
        out = 4 * mid
        for unit in range(size):
            total += 2 * channels + channels * mid + 2 * mid + 9 * mid * mid + 2 * mid + mid * out
            if unit == 0:
                total += channels * out
            channels = out
    return total + 2 * channels + channels * num_classes + num_classes


BIT = {
    "bit_r50x1": ([3, 4, 6, 3], 1),
    "bit_r50x3": ([3, 4, 6, 3], 3),
    "bit_r101x1": ([3, 4, 23, 3], 1),
    "bit_r101x3": ([3, 4, 23, 3], 3),
    "bit_r152x2": ([3, 8, 36, 3], 2),
    "bit_r152x4": ([3, 8, 36, 3], 4),
}
# Exact counts published outside timm (a TF reimplementation of BiT) and timm's model cards (rounded to 0.1M); the
# exact timm counts are compared with every spec in test_timm_parity.py.
PUBLISHED_BIT = {"bit_r50x1": 25_549_352, "bit_r101x1": 44_541_480}
TIMM_CARD_MILLIONS = {"bit_r50x1": 25.5, "bit_r101x1": 44.5, "bit_r152x4": 936.5}
SLOW_BIT = ("bit_r50x3", "bit_r101x3", "bit_r152x2", "bit_r152x4")


@pytest.mark.parametrize("name", sorted(HYBRID_COUNTS))
def test_hybrid_parameter_count_matches_original_release(name):
    spec = keras_vit.get_spec(name)
    assert spec.expected_num_params == HYBRID_COUNTS[name]
    assert keras_vit.build(spec).count_params() == HYBRID_COUNTS[name]


@pytest.mark.parametrize(
    "name", [n if n not in SLOW_BIT else pytest.param(n, marks=pytest.mark.slow) for n in sorted(BIT)]
)
def test_bit_parameter_count(name):
    stage_sizes, width_factor = BIT[name]
    expected = bit_closed_form_count(stage_sizes, width_factor)
    spec = keras_vit.get_spec(name)
    assert spec.expected_num_params == expected
    if name in PUBLISHED_BIT:
        assert expected == PUBLISHED_BIT[name]
    if name in TIMM_CARD_MILLIONS:
        assert round(expected / 1e6, 1) == TIMM_CARD_MILLIONS[name]
    model = keras_vit.build(spec)
    assert model.count_params() == expected
    assert model.output_shape == (None, 1000)


@pytest.mark.parametrize("alias,name", [("vit_base_r50_s16_224", "vit_r50_b16"), ("vit_large_r50_s32_224", "vit_r50_l32"),
                                        ("vit_small_r26_s32_224", "vit_r26_s32"), ("vit_tiny_r_s16_p8_224", "vit_r_ti16"),
                                        ("resnetv2_50x1_bit", "bit_r50x1"), ("resnetv2_152x4_bit", "bit_r152x4")])
def test_timm_aliases(alias, name):
    assert keras_vit.get_spec(alias).name == name


def test_hybrid_at_384_has_a_24x24_token_grid():
    model = keras_vit.create("vit_r50_b16", image_size=384)
    # R50 stem stride 16, 1x1 patches: 384 / 16 = 24 rows and columns, plus the class token.
    assert model.get_layer("position_embedding").embeddings.shape == (1, 24 * 24 + 1, 768)
    assert model.get_layer("stem").output.shape == (None, 24, 24, 1024)
    assert model.count_params() == HYBRID_COUNTS["vit_r50_b16"] + (24 * 24 - 14 * 14) * 768


def test_bit_at_384_forward():
    model = keras_vit.build(keras_vit.get_spec("bit_r50x1", image_size=384, num_classes=5, width_factor=1,
                                               stage_sizes=[1, 1, 1, 1]))
    assert model.get_layer("block4_unit1").output.shape == (None, 12, 12, 2048)
    assert model(np.zeros((1, 384, 384, 3), "float32")).shape == (1, 5)


def test_hybrid_rejects_image_size_not_divisible_by_stem_stride():
    with pytest.raises(keras_vit.SpecError, match="stride 16"):
        keras_vit.get_spec("vit_r50_b16", image_size=200)


def test_include_top_false_returns_features():
    hybrid = keras_vit.create("vit_r50_b16", include_top=False)
    assert hybrid.output_shape == (None, 768)
    bit = keras_vit.create("bit_r50x1", include_top=False)
    assert bit.output_shape == (None, 2048)
    # (Built from the family class: a spec's `tiny` section sets num_classes, which the spec loader validates
    # together with every override, so get_spec(..., pooling="none", num_classes=0) is refused.)
    config = {**keras_vit.get_spec("bit_r50x1").model, "pooling": "none", "num_classes": 0}
    feature_map = keras_vit.models.ResNetV2(**config)
    assert feature_map.output_shape == (None, 7, 7, 2048)


def tiny(name, **overrides):
    return keras_vit.build(keras_vit.get_spec(name).tiny_spec().with_overrides(**overrides))


@pytest.mark.parametrize("name", ["vit_r50_b16", "bit_r50x1"])
def test_keras_round_trip(name, tmp_path):
    model = tiny(name)
    x = RNG.normal(size=(2, 32, 32, 3)).astype("float32")
    for variable in model.trainable_weights:  # zero-initialized parts (heads, scales) would hide mistakes
        variable.assign(variable + RNG.normal(size=variable.shape).astype("float32") * 0.05)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is type(model)
    assert restored.get_config() == model.get_config()
    np.testing.assert_allclose(np.asarray(restored(x)), np.asarray(model(x)), atol=1e-5)


@pytest.mark.parametrize("name", ["vit_r50_b16", "bit_r50x1"])
def test_two_fit_steps_reduce_loss(name):
    keras.utils.set_random_seed(1)
    model = tiny(name)
    x = RNG.normal(size=(8, 32, 32, 3)).astype("float32")
    y = np.arange(8) % 10
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [np.array(w) for w in model.trainable_weights]
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.all(np.isfinite(history.history["loss"]))
    changed = [not np.allclose(b, np.asarray(w)) for b, w in zip(before, model.trainable_weights)]
    assert sum(changed) > len(changed) // 2


@pytest.mark.parametrize("name", ["vit_r50_b16", "bit_r50x1"])
def test_mixed_bfloat16_forward_is_close_to_float32(name):
    x = RNG.normal(size=(2, 32, 32, 3)).astype("float32")
    full = tiny(name)
    for variable in full.trainable_weights:
        variable.assign(variable + RNG.normal(size=variable.shape).astype("float32") * 0.05)
    mixed = keras_vit.build(keras_vit.get_spec(name).tiny_spec(), dtype="mixed_bfloat16")
    mixed.set_weights(full.get_weights())
    logits = mixed(x)
    if name.startswith("bit"):  # the BiT family returns float32 logits under mixed precision
        assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    out = np.asarray(keras.ops.cast(logits, "float32"))
    reference = np.asarray(full(x))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, reference, atol=0.05 + 0.05 * np.abs(reference).max())


@pytest.mark.parametrize("name", ["vit_r50_b16", "bit_r50x1"])
def test_xla_matches_eager_for_tiny_models(name):
    model = tiny(name)
    for variable in model.trainable_weights:
        variable.assign(variable + RNG.normal(size=variable.shape).astype("float32") * 0.05)
    x = tf.constant(RNG.normal(size=(2, 32, 32, 3)).astype("float32"))
    eager = np.asarray(model(x))
    compiled = np.asarray(tf.function(model, jit_compile=True)(x))
    np.testing.assert_allclose(compiled, eager, atol=1e-5, rtol=1e-5)


def test_stem_block_is_selected_from_yaml():
    model = tiny("vit_r50_b16", stem={"block": "preact_bottleneck"})
    stem = model.get_layer("stem")
    assert type(stem.units[0]).__name__ == "PreActBottleneck" and stem.norm is not None
    assert model.get_config()["stem"]["block"] == "preact_bottleneck"


@pytest.mark.parametrize("name", sorted(HYBRID_COUNTS) + sorted(BIT))
def test_tiny_form_builds_and_runs(name):
    spec = keras_vit.get_spec(name).tiny_spec()
    model = keras_vit.build(spec)
    size = spec.model["image_size"]
    out = model(np.zeros((2, size, size, 3), "float32"))
    assert out.shape == (2, spec.model["num_classes"])


@pytest.mark.parametrize("name", sorted(HYBRID_COUNTS) + sorted(BIT))
def test_bit_specs_pad_symmetrically_and_hybrids_as_tensorflow(name):
    # BiT release / timm resnetv2_*_bit: fixed symmetric padding; ViT release / timm hybrids: TF SAME.
    model = keras_vit.create(name, **keras_vit.get_spec(name).tiny)
    expected = "symmetric" if name.startswith("bit_") else "same"
    paddings = {layer.padding for layer in model._flatten_layers() if hasattr(layer, "padding")} - {"valid"}
    assert paddings == {expected}


def test_resnet_v2_rejects_unknown_padding():
    with pytest.raises(ValueError, match="model.padding: must be one of 'same', 'symmetric'; received 'SAME'"):
        keras_vit.create("bit_r50x1", **dict(keras_vit.get_spec("bit_r50x1").tiny, padding="SAME"))


def test_padding_changes_bit_outputs_but_not_shapes_or_weights():
    tiny = dict(keras_vit.get_spec("bit_r50x1").tiny, num_classes=0)
    symmetric = keras_vit.create("bit_r50x1", **tiny)
    same = keras_vit.create("bit_r50x1", **tiny, padding="same")
    randomize_weights(symmetric)
    same.set_weights(symmetric.get_weights())  # same variables, same order
    images = RNG.normal(size=(2, 32, 32, 3)).astype("float32")
    a, b = np.asarray(symmetric(images)), np.asarray(same(images))
    assert a.shape == b.shape and symmetric.count_params() == same.count_params()
    assert np.abs(a - b).max() > 1e-3
