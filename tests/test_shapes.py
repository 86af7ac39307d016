"""Token and output shapes against hand-computed values: tokens = (H / P) * (W / P) + 1."""

import re

import numpy as np
import pytest

import keras_vit


@pytest.mark.parametrize(
    "image_size,patch_size,tokens",
    [(32, 8, 17), ((32, 48), 8, 25), ((48, 32), 16, 7), (64, (8, 16), 33), (24, 4, 37)],
)
def test_token_count(image_size, patch_size, tokens):
    spec = keras_vit.get_spec("vit_ti16").tiny_spec().with_overrides(
        image_size=image_size, patch_size=patch_size, num_classes=0, pooling="none"
    )
    model = keras_vit.build(spec)
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    out = model(np.zeros((2, h, w, 3), "float32"))
    assert tuple(out.shape) == (2, tokens, spec.model["hidden_dim"])


def test_outputs_of_heads_and_features():
    spec = keras_vit.get_spec("vit_s16").tiny_spec()
    x = np.random.rand(3, 32, 32, 3).astype("float32")
    assert tuple(keras_vit.build(spec)(x).shape) == (3, 10)
    features = keras_vit.create("vit_s16", include_top=False, **spec.tiny)
    assert tuple(features(x).shape) == (3, 32)
    gap = keras_vit.create("vit_s16", pooling="gap", use_class_token=False, **spec.tiny)
    assert tuple(gap(x).shape) == (3, 10)
    assert "class_token" not in [layer.name for layer in gap.layers]
    attention_pooled = keras_vit.create("vit_s16", pooling="map", use_class_token=False, **spec.tiny)
    assert tuple(attention_pooled(x).shape) == (3, 10)
    # the map head adds a probe (32), query (32*32+32), key/value (32*64+64), projection (32*32+32),
    # a LayerNorm (64) and an MLP (32*64+64 + 64*32+32) to the gap model: 8,512 by hand
    assert attention_pooled.count_params() - gap.count_params() == 8_512


def test_feature_extractor_returns_block_tokens():
    model = keras_vit.create("vit_b16", include_top=False, **{**keras_vit.get_spec("vit_b16").tiny, "num_layers": 3})
    extractor = keras_vit.feature_extractor(model, block_indices=[0, -1])
    x = np.random.rand(2, 32, 32, 3).astype("float32")
    first, last = extractor(x)
    assert tuple(first.shape) == tuple(last.shape) == (2, 17, 32)
    # the last block's tokens, normed and pooled, are the backbone's features
    from tests.numpy_reference import layer_norm

    norm = model.get_layer("encoder_norm")
    pooled = layer_norm(np.asarray(last), np.asarray(norm.gamma), np.asarray(norm.beta), 1e-6)[:, 0]
    np.testing.assert_allclose(np.asarray(model(x)), pooled, atol=1e-5)
    with pytest.raises(ValueError, match="out of range"):
        keras_vit.feature_extractor(model, block_indices=[3])
    units = keras_vit.create("bit_r50x1", include_top=False, **keras_vit.get_spec("bit_r50x1").tiny)
    (last_unit,) = keras_vit.feature_extractor(units, block_indices=[-1]).outputs  # ResNet units, from the layout
    assert last_unit.shape[-1] == units.get_layer(units.layout.blocks[-1]).output.shape[-1]


def test_feature_extractor_names_what_is_wrong_with_block_indices():
    # The user's inputs (issue 27): [] got Keras's "`outputs` argument cannot be empty", 1 "'int' object is not
    # iterable", and ["a"] and [1.0] were called out of range.
    model = keras_vit.create("vit_ti16", include_top=False, **keras_vit.get_spec("vit_ti16").tiny)
    for bad in (1, ["a"], [1.0], "1"):
        with pytest.raises(ValueError, match=r"feature_extractor\(block_indices=...\): block indices are a list of ints, "
                                             rf"e.g. \[0, -1\] \(model 'vit_ti16' has 2 blocks\); "
                                             rf"received {re.escape(repr(bad))}\.$"):
            keras_vit.feature_extractor(model, block_indices=bad)
    for empty in ({"block_indices": []}, {"layer_names": ()}):
        with pytest.raises(ValueError, match=r"pass at least one block index or layer name; received an empty list"):
            keras_vit.feature_extractor(model, **empty)
    assert len(keras_vit.feature_extractor(model, block_indices=(np.int64(1),)).outputs) == 1


def test_feature_extractor_taps_the_layout_blocks():
    import keras

    from tests.layout_model import laid_out_model

    model = laid_out_model()
    extractor = keras_vit.feature_extractor(model, block_indices=[0, -1])
    x = np.random.rand(2, 8, 8, 3).astype("float32")
    expected = keras.Model(model.input, [model.get_layer("unit_a").output, model.get_layer("unit_b").output])(x)
    for got, want in zip(extractor(x), expected):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want))
    plain = keras.Model(model.input, model.output)
    with pytest.raises(ValueError, match=r"needs a keras_vit zoo model \(model.layout\).*keras_vit.create"):
        keras_vit.feature_extractor(plain, block_indices=[0])
    assert len(keras_vit.feature_extractor(plain, layer_names=["unit_b"]).outputs) == 1  # names work on any model
