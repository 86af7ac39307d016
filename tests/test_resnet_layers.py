"""BiT ResNet layers against a NumPy reference written from the equations, plus config round trips."""

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.layers import Bottleneck, GroupNorm, PreActBottleneck, ResNetRoot, ResNetStem, StdConv2D
from keras_vit.models import ResNetV2
from keras_vit.registry import registry
from keras_vit.spec import SpecError
from tests.numpy_reference import conv_same as np_conv_same
from tests.numpy_reference import conv_symmetric as np_conv_symmetric
from tests.numpy_reference import conv_valid as np_conv_valid

RNG = np.random.default_rng(0)


# ---- NumPy reference (from the equations; SAME padding as TensorFlow/JAX, or BiT's fixed symmetric padding) ----
def np_standardize(kernel, epsilon, mode):
    mean = kernel.mean(axis=(0, 1, 2), keepdims=True)
    centered = kernel - mean
    variance = (centered**2).mean(axis=(0, 1, 2), keepdims=True)
    if mode == "variance":
        return centered / np.sqrt(variance + epsilon)
    return centered / (np.sqrt(variance) + epsilon)


def np_max_pool_valid(x, size, stride):
    out_h, out_w = (x.shape[1] - size) // stride + 1, (x.shape[2] - size) // stride + 1
    rows = [
        np.stack([x[:, stride * i : stride * i + size, stride * j : stride * j + size].max(axis=(1, 2)) for j in range(out_w)], 1)
        for i in range(out_h)
    ]
    return np.stack(rows, 1)


def np_group_norm(x, groups, epsilon, gamma, beta):
    batch, height, width, channels = x.shape
    grouped = x.reshape(batch, height, width, groups, channels // groups)
    mean = grouped.mean(axis=(1, 2, 4), keepdims=True)
    variance = grouped.var(axis=(1, 2, 4), keepdims=True)
    normalized = ((grouped - mean) / np.sqrt(variance + epsilon)).reshape(x.shape)
    return normalized * gamma + beta


def relu(x):
    return np.maximum(x, 0)


def randomize(layer):
    """Random values in every variable (GroupNorm scales away from 1, zero-initialized ones included)."""
    for variable in layer.weights:
        variable.assign(RNG.normal(size=variable.shape).astype("float32") * 0.5 + (1.0 if "gamma" in variable.path else 0.0))


def conv_ref(layer, x):
    conv = {"same": np_conv_same, "symmetric": np_conv_symmetric}[layer.padding]
    return conv(x, np_standardize(np.asarray(layer.kernel), layer.epsilon, layer.epsilon_mode), layer.strides[0])


def gn_ref(layer, x):
    return np_group_norm(x, layer.groups, layer.epsilon, np.asarray(layer.gamma), np.asarray(layer.beta))


@pytest.mark.parametrize("mode,epsilon", [("variance", 1e-10), ("std", 1e-5)])
def test_std_conv_matches_numpy(mode, epsilon):
    layer = StdConv2D(8, 3, strides=2, epsilon=epsilon, epsilon_mode=mode)
    x = RNG.normal(size=(2, 7, 6, 4)).astype("float32")
    y = np.asarray(layer(x))
    kernel = np.asarray(layer.kernel)
    standardized = np_standardize(kernel, epsilon, mode)
    # The standardized kernel has zero mean and (nearly) unit variance per output channel.
    np.testing.assert_allclose(standardized.mean(axis=(0, 1, 2)), 0, atol=1e-6)
    np.testing.assert_allclose(y, np_conv_same(x, standardized, 2), atol=1e-5, rtol=1e-5)
    assert y.shape == (2, 4, 3, 8) == layer.compute_output_shape((2, 7, 6, 4))


def test_group_norm_matches_numpy():
    layer = GroupNorm(groups=4, epsilon=1e-6)
    x = RNG.normal(size=(2, 5, 5, 16)).astype("float32") * 3 + 1
    layer.build(x.shape)
    randomize(layer)
    np.testing.assert_allclose(np.asarray(layer(x)), gn_ref(layer, x), atol=1e-5, rtol=1e-5)


def test_group_norm_rejects_indivisible_channels():
    with pytest.raises(ValueError, match="divisible by groups"):
        GroupNorm(groups=32)(np.zeros((1, 2, 2, 48), "float32"))


@pytest.mark.parametrize("strides,in_channels", [(2, 16), (1, 32)])
def test_bottleneck_matches_numpy(strides, in_channels):
    layer = Bottleneck(8, strides=strides, num_groups=4)
    x = RNG.normal(size=(2, 6, 6, in_channels)).astype("float32")
    layer.build(x.shape)
    randomize(layer)
    shortcut = x
    if strides != 1 or in_channels != 32:
        shortcut = gn_ref(layer.gn_proj, conv_ref(layer.conv_proj, x))
    y = relu(gn_ref(layer.gn1, conv_ref(layer.conv1, x)))
    y = relu(gn_ref(layer.gn2, conv_ref(layer.conv2, y)))
    y = gn_ref(layer.gn3, conv_ref(layer.conv3, y))
    expected = relu(shortcut + y)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, atol=1e-5, rtol=1e-5)
    assert hasattr(layer, "conv_proj") == (strides != 1 or in_channels != 32)


def test_preact_bottleneck_matches_numpy():
    layer = PreActBottleneck(8, strides=2, num_groups=4)
    x = RNG.normal(size=(2, 6, 6, 16)).astype("float32")
    layer.build(x.shape)
    randomize(layer)
    activated = relu(gn_ref(layer.gn1, x))
    shortcut = conv_ref(layer.conv_proj, activated)
    y = conv_ref(layer.conv1, activated)
    y = conv_ref(layer.conv2, relu(gn_ref(layer.gn2, y)))
    y = conv_ref(layer.conv3, relu(gn_ref(layer.gn3, y)))
    np.testing.assert_allclose(np.asarray(layer(x)), shortcut + y, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kernel,stride,size", [(3, 2, (8, 6)), (7, 2, (10, 9)), (3, 1, (5, 6)), (1, 2, (6, 6))])
def test_symmetric_std_conv_matches_explicit_pad_then_valid(kernel, stride, size):
    layer = StdConv2D(5, kernel, strides=stride, padding="symmetric")
    x = RNG.normal(size=(2, *size, 3)).astype("float32")
    y = np.asarray(layer(x))
    standardized = np_standardize(np.asarray(layer.kernel), layer.epsilon, layer.epsilon_mode)
    expected = np_conv_symmetric(x, standardized, stride)
    # ceil(size / stride) outputs, like SAME: (size + 2 * ((k - 1) // 2) - k) // stride + 1 for odd k.
    assert y.shape == expected.shape == (2, -(-size[0] // stride), -(-size[1] // stride), 5)
    assert layer.compute_output_shape((2, *size, 3)) == y.shape
    np.testing.assert_allclose(y, expected, atol=1e-5, rtol=1e-5)
    if kernel > 1 and stride == 2 and size[0] % 2 == 0:  # SAME puts the odd zero at the end: not the same numbers
        assert np.abs(np_conv_same(x, standardized, stride) - expected).max() > 1e-2


def test_symmetric_root_matches_numpy_zero_padded_pool():
    # BiT's pre-activation root: 3 zeros on each side, 7x7/2 valid conv, 1 zero on each side, 3x3/2 valid max-pool.
    layer = ResNetRoot(32, use_norm=False, padding="symmetric")
    x = RNG.normal(size=(2, 16, 14, 3)).astype("float32")
    y = np.asarray(layer(x))
    standardized = np_standardize(np.asarray(layer.conv.kernel), layer.std_conv_epsilon, layer.std_conv_epsilon_mode)
    conv = np_conv_valid(np.pad(x, ((0, 0), (3, 3), (3, 3), (0, 0))), standardized, 2)  # (2, 8, 7, 32)
    zero_padded = np.pad(conv, ((0, 0), (1, 1), (1, 1), (0, 0)))
    expected = np_max_pool_valid(zero_padded, 3, 2)
    assert conv.shape == (2, 8, 7, 32) and expected.shape == y.shape == (2, 4, 4, 32) == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(y, expected, atol=1e-5, rtol=1e-5)
    # The pool pads with zeros, not -inf: the conv output is not activated, so border maxima can differ.
    inf_padded = np.pad(conv, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    assert not np.allclose(np_max_pool_valid(inf_padded, 3, 2), expected)


@pytest.mark.parametrize("size", range(5, 13))
def test_padding_modes_give_the_same_shapes(size):
    x = np.zeros((1, size, size + 1, 3), "float32")
    shapes = set()
    for padding in ("same", "symmetric"):
        root = ResNetRoot(8, num_groups=2, padding=padding)
        unit = PreActBottleneck(4, strides=2, num_groups=2, padding=padding)
        out = root(x)
        shapes.add((tuple(out.shape), root.compute_output_shape(x.shape), tuple(unit(out).shape)))
    assert len(shapes) == 1
    expected = -(-size // 4), -(-(size + 1) // 4)
    assert shapes.pop()[0] == (1, *expected, 8)


def test_unknown_padding_is_a_clear_error_where_a_spec_or_a_family_sets_it():
    # Layers trust their arguments, as Keras's do: the family and the spec's slots check them.
    with pytest.raises(ValueError, match="model.padding: must be one of 'same', 'symmetric'; received 'fixed'"):
        ResNetV2(padding="fixed")
    with pytest.raises(SpecError, match="model.stem.padding: must be one of 'same', 'symmetric'; received 'fixed'"):
        keras_vit.get_spec("vit_r50_b16", stem={"padding": "fixed"})
    with pytest.raises(SpecError, match="model.stem.block: must be a registered block name.*received 'botleneck'"):
        keras_vit.get_spec("vit_r50_b16", stem={"block": "botleneck"})


def test_bottleneck_starts_as_identity_map_after_relu():
    # The last GroupNorm's scale starts at zero (as in the ViT release): a unit without projection is relu(x).
    x = RNG.normal(size=(1, 4, 4, 32)).astype("float32")
    np.testing.assert_allclose(np.asarray(Bottleneck(8, num_groups=4)(x)), relu(x), atol=1e-6)


def test_root_downsamples_by_four_with_same_pooling():
    layer = ResNetRoot(32, use_norm=True, num_groups=8)
    x = RNG.normal(size=(1, 18, 18, 3)).astype("float32")
    layer.build(x.shape)
    randomize(layer)
    y = relu(gn_ref(layer.norm, conv_ref(layer.conv, x)))  # (1, 9, 9, 32)
    # 3x3 stride-2 SAME max pool on 9x9: 5x5 outputs, padding (1, 1) with -inf.
    padded = np.pad(y, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    pooled = np.stack(
        [np.stack([padded[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3].max(axis=(1, 2)) for j in range(5)], 1) for i in range(5)], 1
    )
    np.testing.assert_allclose(np.asarray(layer(x)), pooled, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "stage_sizes,stride,channels", [((3, 4, 9), 16, 1024), ((3, 4, 6, 3), 32, 2048), ((2, 2, 2, 2), 32, 2048), ((), 4, 64)]
)
def test_stem_output_stride_and_shape(stage_sizes, stride, channels):
    kwargs = {"stage_sizes": list(stage_sizes)}
    assert ResNetStem.output_stride_of(kwargs) == stride
    assert ResNetStem(**kwargs).compute_output_shape((None, 64, 64, 3)) == (None, 64 // stride, 64 // stride, channels)


def test_stem_is_registered_and_rejects_unknown_block():
    assert registry("stem").get("bit_resnet_stem") is ResNetStem
    with pytest.raises(ValueError, match="Unknown block 'botleneck'.*bottleneck"):
        ResNetStem(stage_sizes=[1], block="botleneck")


@pytest.mark.parametrize(
    "layer",
    [
        StdConv2D(4, 1, strides=2, use_bias=True, epsilon=1e-3, epsilon_mode="std"),
        GroupNorm(groups=2, epsilon=1e-3, gamma_initializer="zeros"),
        ResNetRoot(16, use_norm=False, num_groups=4, group_norm_epsilon=1e-3),
        Bottleneck(4, strides=2, num_groups=2, std_conv_epsilon_mode="variance"),
        PreActBottleneck(4, strides=1, num_groups=2, std_conv_epsilon=1e-8),
        ResNetStem(stage_sizes=[1, 1], block="preact_bottleneck", num_groups=4),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_config_round_trip_and_serialization(layer):
    x = RNG.normal(size=(2, 8, 8, 8)).astype("float32")
    y = np.asarray(layer(x))
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    clone.build(x.shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(np.asarray(clone(x)), y, atol=1e-6)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer)


def test_mixed_bfloat16_layers_return_bfloat16():
    x = RNG.normal(size=(1, 8, 8, 16)).astype("float32")
    layer = PreActBottleneck(4, strides=2, num_groups=4, dtype="mixed_bfloat16")
    y = layer(x)
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in layer.weights)
    reference = PreActBottleneck(4, strides=2, num_groups=4)
    reference.build(x.shape)
    reference.set_weights(layer.get_weights())
    np.testing.assert_allclose(np.asarray(keras.ops.cast(y, "float32")), np.asarray(reference(x)), atol=0.1, rtol=0.05)
