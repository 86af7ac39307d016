"""The ViT paper's position-embedding ablation (appendix D.4, Table 8): every named combination builds, trains a
step, and has the parameter count that its tables imply."""

import keras
import numpy as np
import pytest

import keras_vit

# tiny ViT: 32x32 images, patch 8 -> 4x4 grid, 16 patches + class token = 17 tokens, width 32, 2 heads, 2 layers
TOKENS, GRID, WIDTH, LAYERS, HEAD_DIM = 17, 4, 32, 2, 16
LEARNED_1D = TOKENS * WIDTH                      # one (17, 32) table
LEARNED_2D = (GRID + GRID + 1) * WIDTH           # row (4, 32) + column (4, 32) + class token (1, 32)
RELATIVE = (2 * TOKENS - 1) * HEAD_DIM           # one embedding per offset, (33, 16)

# (encoding, placement) -> position parameters added to the model without any position encoding
ABLATION = {
    ("none", None): 0,
    ("learned_1d", "stem"): LEARNED_1D,
    ("learned_1d", "every_layer"): LAYERS * LEARNED_1D,
    ("learned_1d", "every_layer_shared"): LEARNED_1D,
    ("learned_2d", "stem"): LEARNED_2D,
    ("learned_2d", "every_layer"): LAYERS * LEARNED_2D,
    ("learned_2d", "every_layer_shared"): LEARNED_2D,
    ("relative", "every_layer"): LAYERS * RELATIVE,
    ("relative", "every_layer_shared"): RELATIVE,
    ("sincos_2d", "stem"): 0,
    ("sincos_2d", "every_layer"): 0,
}


def tiny(**overrides):
    return keras_vit.create("vit_b16", **{**keras_vit.get_spec("vit_b16").tiny, **overrides})


@pytest.mark.parametrize("encoding,placement", sorted(ABLATION, key=str), ids=str)
def test_ablation_combination_builds_trains_and_counts(encoding, placement):
    base = tiny(position_encoding="none").count_params()
    model = tiny(position_encoding=encoding, position_placement=placement)
    assert model.count_params() - base == ABLATION[(encoding, placement)]
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype("float32")
    y = np.array([0, 1, 2, 3])
    before = [np.array(w) for w in model.trainable_weights]
    history = model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.allclose(b, np.array(w)) for b, w in zip(before, model.trainable_weights))


def test_position_encoding_changes_the_output_for_permuted_patches():
    """Without position information ViT is blind to patch order (token pooling over a permutation-equivariant
    encoder); with it, swapping two patches changes the output."""
    x = np.random.default_rng(1).normal(size=(1, 32, 32, 3)).astype("float32")
    swapped = x.copy()
    swapped[:, :8, :8], swapped[:, 8:16, 8:16] = x[:, 8:16, 8:16], x[:, :8, :8]
    for encoding, blind in [("none", True), ("learned_1d", False), ("sincos_2d", False), ("relative", False)]:
        model = tiny(position_encoding=encoding, num_classes=0)
        same = np.allclose(np.asarray(model(x)), np.asarray(model(swapped)), atol=1e-5)
        assert same == blind, encoding


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"position_encoding": "relative", "position_placement": "stem"}, "every_layer"),
        ({"position_encoding": "none", "position_placement": "every_layer"}, "left unset"),
        ({"position_encoding": "learned_3d"}, "learned_1d"),
        ({"position_placement": "everywhere"}, "every_layer"),
    ],
)
def test_invalid_position_settings_are_clear_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny(**overrides)
