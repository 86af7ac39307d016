"""TNT: released parameter counts, NumPy references of the pixel embedding and of one TNTBlock, the position-encoding
ablation, other resolutions, mixed precision, XLA and clear errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_vit
from keras_vit.layers import PixelEmbed, TNTBlock
from keras_vit.models import TNT
from keras_vit.spec import thaw
from keras_vit.testing import assert_keras_round_trip
from tests import numpy_reference as ref

# timm's counts of the released architectures (tnt_s_patch16_224, tnt_b_patch16_224) at 224x224 with 1000 classes.
RELEASED_COUNTS = {"tnt_s16": 23_768_584, "tnt_b16": 65_428_680}


def tiny(**overrides):
    """The tiny TNT of the tnt_s16 spec: 32x32 images, 8x8 patches (4x4 = 16 patches), 4x4 words of width 8."""
    return keras_vit.create("tnt_s16", **{**thaw(keras_vit.get_spec("tnt_s16").tiny), **overrides})


def images(model, batch=2, seed=0):
    _, h, w, c = model.input_shape
    return np.random.default_rng(seed).normal(size=(batch, h, w, c)).astype("float32")


@pytest.mark.parametrize("name", sorted(RELEASED_COUNTS))
def test_parameter_counts_equal_the_release(name):
    assert keras_vit.create(name).count_params() == RELEASED_COUNTS[name]
    assert keras_vit.get_spec(name).expected_num_params == RELEASED_COUNTS[name]


def test_timm_aliases_and_released_hyperparameters():
    small, base = keras_vit.get_spec("tnt_s_patch16_224"), keras_vit.get_spec("tnt_b_patch16_224")
    assert (small.name, base.name) == ("tnt_s16", "tnt_b16")
    for spec, (dim, heads, inner, inner_heads) in ((small, (384, 6, 24, 4)), (base, (640, 10, 40, 4))):
        m = spec.model
        assert (m["hidden_dim"], m["num_heads"], m["inner_dim"], m["inner_num_heads"]) == (dim, heads, inner, inner_heads)
        assert (m["num_layers"], m["intermediate_dim"], m["inner_intermediate_dim"]) == (12, 4 * dim, 4 * inner)
        assert (m["patch_size"], m["pixel_stride"], m["pixel_kernel_size"]) == (16, 4, 7)
        assert m["layer_norm_epsilon"] == 1e-5 and m["use_qkv_bias"] is False
    assert small.paper["imagenet"] == 81.3 and small.paper["imagenet_released_weights"] == 81.5
    assert base.paper["imagenet"] == 82.9


def test_tnt_s16_at_384_sizes_both_position_encodings():
    model = keras_vit.create("tnt_s16", image_size=384)
    # 24x24 patches instead of 14x14: the patch table grows by (576 - 196) * 384; the pixel table stays 16 x 24.
    assert model.count_params() == 23_768_584 + (576 - 196) * 384
    assert model.get_layer("patch_position").embeddings.shape == (1, 577, 384)
    assert model.get_layer("pixel_position").embeddings.shape == (16, 24)


def pixel_embed_reference(x, kernel, bias, patch, stride):
    """Words from the TNT paper's section 2.2 as released: each patch on its own, zero-padded by k // 2, convolved
    with stride `stride`; patches row-major over the image, words row-major inside a patch. kernel: (k, k, C, d)."""
    batch, height, width, _ = x.shape
    k = kernel.shape[0]
    pad = k // 2
    patches = []
    for r in range(height // patch):
        for c in range(width // patch):
            p = np.pad(x[:, r * patch : (r + 1) * patch, c * patch : (c + 1) * patch], ((0, 0), (pad, pad), (pad, pad), (0, 0)))
            words = [
                np.einsum("bijc,ijco->bo", p[:, i * stride : i * stride + k, j * stride : j * stride + k], kernel) + bias
                for i in range(patch // stride)
                for j in range(patch // stride)
            ]
            patches.append(np.stack(words, axis=1))
    return np.stack(patches, axis=1)


def test_pixel_embed_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 16, 24, 3)).astype("float32")
    layer = PixelEmbed(patch_size=8, inner_dim=5, pixel_stride=2, pixel_kernel_size=5)
    out = np.asarray(layer(x))
    assert out.shape == (2, 2 * 3, 16, 5)
    expected = pixel_embed_reference(x, np.asarray(layer.projection.kernel), np.asarray(layer.projection.bias), 8, 2)
    np.testing.assert_allclose(out, expected, atol=1e-5, rtol=1e-5)


def random_block_weights(rng, width, intermediate):
    def normal(*shape, mean=0.0, scale=0.3):
        return rng.normal(mean, scale, shape).astype("float32")

    zeros = np.zeros(width, "float32")  # TNT has no query/key/value bias
    return dict(
        w_q=normal(width, width), w_k=normal(width, width), w_v=normal(width, width), b_q=zeros, b_k=zeros, b_v=zeros,
        w_o=normal(width, width), b_o=normal(width, scale=0.1),
        ln1_scale=normal(width, mean=1.0, scale=0.1), ln1_bias=normal(width, scale=0.1),
        ln2_scale=normal(width, mean=1.0, scale=0.1), ln2_bias=normal(width, scale=0.1),
        w1=normal(width, intermediate), b1=normal(intermediate, scale=0.1),
        w2=normal(intermediate, width), b2=normal(width, scale=0.1),
    )


def load_transformer_block(block, p):
    block.attention.qkv.kernel.assign(np.concatenate([p["w_q"], p["w_k"], p["w_v"]], axis=1))
    block.attention.projection.kernel.assign(p["w_o"])
    block.attention.projection.bias.assign(p["b_o"])
    for norm, key in ((block.norm1, "ln1"), (block.norm2, "ln2")):
        norm.gamma.assign(p[f"{key}_scale"])
        norm.beta.assign(p[f"{key}_bias"])
    block.mlp.fc1.kernel.assign(p["w1"])
    block.mlp.fc1.bias.assign(p["b1"])
    block.mlp.fc2.kernel.assign(p["w2"])
    block.mlp.fc2.bias.assign(p["b2"])


def tnt_block_reference(words, tokens, inner, projection, outer, inner_heads, outer_heads, eps):
    """One TNT block from the TNT paper's eq. 2-5 (with the released LayerNorms around the FC):
    Y' = Y + MSA(LN(Y)); Y = Y' + MLP(LN(Y')) per patch; Z += [0; LN(FC(LN(Vec(Y))))]; then the outer block."""
    batch, patches, num_words, d = words.shape
    y = ref.transformer_block(words.reshape(batch * patches, num_words, d), inner, inner_heads, eps)
    y = y.reshape(batch, patches, num_words, d)
    vec = y.reshape(batch, patches, num_words * d)  # Vec: word after word
    update = ref.layer_norm(vec, projection["ln1_scale"], projection["ln1_bias"], eps) @ projection["w"]
    update = ref.layer_norm(update, projection["ln2_scale"], projection["ln2_bias"], eps)
    z = tokens.copy()
    z[:, 1:] += update  # the class token receives nothing from the words
    return y, ref.transformer_block(z, outer, outer_heads, eps)


def test_tnt_block_matches_numpy():
    rng = np.random.default_rng(1)
    batch, patches, num_words, d, width, eps = 2, 4, 9, 8, 16, 1e-5
    words = rng.normal(size=(batch, patches, num_words, d)).astype("float32")
    tokens = rng.normal(size=(batch, 1 + patches, width)).astype("float32")
    inner, outer = random_block_weights(rng, d, 3 * d), random_block_weights(rng, width, 2 * width)
    projection = dict(
        ln1_scale=rng.normal(1, 0.1, num_words * d), ln1_bias=rng.normal(0, 0.1, num_words * d),
        w=rng.normal(0, 0.1, (num_words * d, width)), ln2_scale=rng.normal(1, 0.1, width), ln2_bias=rng.normal(0, 0.1, width),
    )
    projection = {k: v.astype("float32") for k, v in projection.items()}
    block = TNTBlock(width, 4, 2 * width, d, 2, 3 * d, layer_norm_epsilon=eps)
    block.build([words.shape, tokens.shape])
    load_transformer_block(block.inner_block, inner)
    load_transformer_block(block.outer_block, outer)
    pixel_projection = block.pixel_projection
    assert pixel_projection.projection.bias is None  # the released block's FC has no bias
    pixel_projection.norm1.gamma.assign(projection["ln1_scale"])
    pixel_projection.norm1.beta.assign(projection["ln1_bias"])
    pixel_projection.projection.kernel.assign(projection["w"])
    pixel_projection.norm2.gamma.assign(projection["ln2_scale"])
    pixel_projection.norm2.beta.assign(projection["ln2_bias"])

    got_words, got_tokens = block([words, tokens])
    want_words, want_tokens = tnt_block_reference(words, tokens, inner, projection, outer, 2, 4, eps)
    np.testing.assert_allclose(np.asarray(got_words), want_words, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(got_tokens), want_tokens, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("use_patch_position", "use_pixel_position"), [
    (True, True),
    # The ablation's other cells drop a layer each; their training check runs in the slow step.
    pytest.param(False, False, marks=pytest.mark.slow),
    pytest.param(True, False, marks=pytest.mark.slow),
    pytest.param(False, True, marks=pytest.mark.slow),
])
def test_position_encoding_ablation_builds_and_trains(use_patch_position, use_pixel_position):
    model = tiny(use_patch_position=use_patch_position, use_pixel_position=use_pixel_position)
    names = {layer.name for layer in model.layers}
    assert ("patch_position" in names) == use_patch_position
    assert ("pixel_position" in names) == use_pixel_position
    # Tables of the tiny model: (1 + 16 patches) x 32 for the patches, 16 words x 8 for the pixels.
    bare = tiny(use_patch_position=False, use_pixel_position=False).count_params()
    assert model.count_params() - bare == use_patch_position * 17 * 32 + use_pixel_position * 16 * 8
    x = images(model, batch=4)
    y = np.arange(4) % 10
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=False)
    losses = model.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=False).history["loss"]
    assert np.isfinite(losses).all() and losses[1] < losses[0], losses


def test_other_resolution_and_backbone_outputs():
    model = tiny(image_size=(48, 32), num_classes=0)
    assert model.output_shape == (None, 32)  # include_top=False / num_classes=0: pooled class token
    assert model.get_layer("patch_position").embeddings.shape == (1, 1 + 6 * 4, 32)
    assert model.get_layer("pixel_position").embeddings.shape == (16, 8)
    assert keras_vit.create("tnt_s16", include_top=False, **{**thaw(keras_vit.get_spec("tnt_s16").tiny), "num_classes": 5}).output_shape == (None, 32)
    tokens = tiny(pooling="none", num_classes=0)
    assert tokens.output_shape == (None, 17, 32)
    features = keras_vit.feature_extractor(tokens, block_indices=[0, -1])
    assert [tuple(t.shape) for t in features(images(tokens))] == [(2, 17, 32), (2, 17, 32)]


def test_non_default_variant_round_trips_and_compiles_with_xla():
    model = tiny(image_size=(32, 48), pooling="gap", use_pixel_position=False, use_qkv_bias=True, pixel_kernel_size=5)
    # The classifier starts at zero (all logits 0): give it random weights so that equal outputs mean something.
    head = model.get_layer("head").classifier
    head.kernel.assign(np.random.default_rng(4).normal(size=head.kernel.shape).astype("float32"))
    x = images(model, seed=3)
    assert np.abs(np.asarray(model(x))).mean() > 0.1
    loaded = assert_keras_round_trip(model, x, atol=1e-6)
    assert loaded.get_config()["use_pixel_position"] is False
    compiled = tf.function(lambda t: model(t, training=False), jit_compile=True)
    np.testing.assert_allclose(np.asarray(compiled(x)), np.asarray(model(x)), atol=1e-5)


def test_mixed_bfloat16_forward_follows_float32():
    features = tiny(num_classes=0)  # features rather than the zero-initialized head, so the outputs mean something
    mixed = tiny(num_classes=0, dtype="mixed_bfloat16")
    mixed.set_weights(features.get_weights())
    x = images(features)
    out = mixed(x)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    assert mixed.get_layer("block_0").inner_block.attention.qkv.kernel.dtype == "float32"
    np.testing.assert_allclose(np.asarray(keras.ops.cast(out, "float32")), np.asarray(features(x)), atol=0.1)


def test_drop_path_grows_linearly_and_trains():
    model = tiny(num_layers=3, drop_path_rate=0.2, dropout_rate=0.1)
    rates = [model.get_layer(f"block_{i}").drop_path_rate for i in range(3)]
    np.testing.assert_allclose(rates, [0.0, 0.1, 0.2])
    assert model.get_layer("block_2").inner_block.drop_path_rate == 0.2
    assert np.isfinite(np.asarray(model(images(model), training=True))).all()


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"pixel_stride": 5}, r"`patch_size`=16 is not divisible by `pixel_stride`=5"),
        ({"patch_size": 14}, r"`patch_size`=14 is not divisible by `pixel_stride`=4"),
        ({"image_size": 200}, r"image_size height 200 is not divisible by the patch size 16"),
        ({"image_size": (224, 100)}, r"image_size width 100 is not divisible by the patch size 16"),
        ({"pixel_kernel_size": 6}, r"`pixel_kernel_size` must be odd"),
        ({"inner_num_heads": 5}, r"`inner_dim`=24 is not divisible by `inner_num_heads`=5"),
        ({"use_pixel_position": "yes"}, r"model.use_pixel_position: must be true or false; received 'yes'"),
    ],
)
def test_bad_hyperparameters_are_clear_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        keras_vit.create("tnt_s16", **overrides)
    with pytest.raises(ValueError, match=message):
        TNT(**overrides)


def test_layers_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"Image width 20 is not a multiple of the patch width 8"):
        PixelEmbed(patch_size=8, pixel_stride=2)(np.zeros((1, 16, 20, 3), "float32"))
    PixelEmbed(patch_size=8, pixel_stride=2).build((None, None, None, 3))  # any image size (dynamic_image_size)
    with pytest.raises(ValueError, match=r"takes a pair \[words, tokens\]"):
        TNTBlock(16, 2, 32, 8, 2, 16).build((1, 5, 16))
    with pytest.raises(ValueError, match=r"\(batch, 1 \+ num_patches, 16\); received \[\(1, 4, 9, 8\), \(1, 4, 16\)\]"):
        TNTBlock(16, 2, 32, 8, 2, 16).build([(1, 4, 9, 8), (1, 4, 16)])
    model = tiny()
    with pytest.raises(ValueError, match=r"\(batch, 32, 32, 3\)"):
        model(np.zeros((1, 64, 64, 3), "float32"))
