"""DINOv2, SigLIP image towers and EVA-02 as zoo specs: timm's parameter counts, timm-layout checkpoints converted
and run against timm's own logits (fixtures from tests/weights/make_timm_fixtures.py), and each family as a
classifier, at another size and with attention maps."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_vit

FIXTURES = Path(__file__).resolve().parent / "weights" / "fixtures"

# timm's parameter counts of these architectures (issue 25, from timm's model registry), written here by hand:
# backbones without a classifier at their published input size; eva02_base_patch14_448 with 1000 classes.
TIMM_COUNTS = {
    "vit_small_patch14_dinov2": 22_056_192,
    "vit_base_patch14_dinov2": 86_579_712,
    "vit_small_patch14_reg4_dinov2": 22_057_344,
    "vit_base_patch14_reg4_dinov2": 86_582_016,
    "vit_large_patch14_reg4_dinov2": 304_370_688,
    "vit_base_patch16_siglip_224": 92_884_224,
    "vit_base_patch16_siglip_256": 92_930_304,
    "vit_large_patch16_siglip_256": 315_956_224,
    "vit_so400m_patch14_siglip_224": 427_680_704,
    "eva02_tiny_patch14_224": 5_502_144,
    "eva02_small_patch14_224": 21_621_120,
    "eva02_base_patch14_224": 85_758_720,
    "eva02_base_patch14_448": 87_117_544,
}
# Built at full size in the default run: one model per family and feature; their twins run in the slow step.
DEFAULT_COUNTS = {"vit_small_patch14_reg4_dinov2", "vit_base_patch16_siglip_224", "eva02_tiny_patch14_224",
                  "eva02_base_patch14_448"}


@pytest.mark.parametrize(
    "name", [n if n in DEFAULT_COUNTS else pytest.param(n, marks=pytest.mark.slow) for n in sorted(TIMM_COUNTS)]
)
def test_parameter_counts_equal_timm(name):
    model = keras_vit.create(name)
    assert model.count_params() == TIMM_COUNTS[name]
    assert keras_vit.get_spec(name).expected_num_params == TIMM_COUNTS[name]
    keras.backend.clear_session()


# fixture -> (zoo model, its MLP width in the fixture: timm's mlp_ratio times the fixture's width 32)
TIMM_FIXTURES = {
    "timm_dinov2": ("dinov2_s14_reg4", 128),
    "timm_siglip": ("siglip_b16_224", 128),
    # EVA-02: int(32 * 4 * 2 / 3); Tiny with fused qkv and packed SwiGLU, Base with q/k/v_proj, fc1_g/fc1_x and the
    # inner norm, its rotary positions spanning the 16x16 reference grid on a 3x3 grid
    "timm_eva02_tiny": ("eva02_ti14", 85),
    "timm_eva02_base": ("eva02_b14_448", 85),
}


@pytest.mark.parametrize("fixture", sorted(TIMM_FIXTURES))
def test_timm_checkpoint_converts_to_timms_logits(fixture):
    zoo_name, mlp_width = TIMM_FIXTURES[fixture]
    config = json.loads((FIXTURES / f"{fixture}.json").read_text())
    assert keras_vit.get_spec(config["name"]).name == zoo_name  # timm's name is the zoo model's alias
    model = keras_vit.create(zoo_name, image_size=config["img_size"], hidden_dim=config["embed_dim"],
                             num_layers=config["depth"], num_heads=config["num_heads"], intermediate_dim=mlp_width,
                             num_classes=config["num_classes"])
    report = keras_vit.weights.load(model, FIXTURES / f"{fixture}.safetensors")
    assert report.num_assigned == len(model.weights) and not report.dropped and not report.resampled
    data = np.load(FIXTURES / f"{fixture}.npz")
    logits = np.asarray(model(data["images"]))
    np.testing.assert_allclose(logits, data["logits"], rtol=1e-4, atol=1e-4 * np.abs(data["logits"]).max())


@pytest.mark.parametrize("name", ["dinov2_s14_reg4", "siglip_b16_224", "eva02_b14"])
def test_classifier_any_size_and_attention_maps(name):
    spec = keras_vit.get_spec(name).tiny_spec()
    fixed = keras_vit.create(spec, num_classes=5)
    model = keras_vit.create(spec, num_classes=5, dynamic_image_size=True)
    model.set_weights(fixed.get_weights())
    size, patch = spec.model["image_size"], spec.model["patch_size"]
    rng = np.random.default_rng(0)
    native = rng.normal(size=(2, size, size, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(model(native)), np.asarray(fixed(native)), atol=1e-5)
    images = rng.normal(size=(2, 3 * patch, 5 * patch, 3)).astype("float32")
    assert model(images).shape == (2, 5)
    prefix = model.layout.num_prefix_tokens
    maps = keras_vit.attention_maps(model, images)
    assert len(maps) == spec.model["num_layers"]
    assert maps[0].shape == (2, spec.model["num_heads"], prefix + 15, prefix + 15)
    np.testing.assert_allclose(maps[-1].sum(-1), 1.0, atol=1e-5)


# ---- the new layers against NumPy ----


def numpy_angles(rows, cols, prefix, key_dim, reference=None, temperature=10000.0):
    """RoPE angles written out token by token: pair k of the first quarter turns with the row, of the second with
    the column, at temperature ** (-k / quarter); positions scaled onto the reference grid; prefix tokens 0."""
    quarter = key_dim // 4
    table = np.zeros((prefix + rows * cols, 2 * quarter))
    for r in range(rows):
        for c in range(cols):
            y, x = (r, c) if reference is None else (r * reference / rows, c * reference / cols)
            for k in range(quarter):
                table[prefix + r * cols + c, k] = y * temperature ** (-k / quarter)
                table[prefix + r * cols + c, quarter + k] = x * temperature ** (-k / quarter)
    return table


def numpy_rotate(x, angles):
    """Channel pairs as complex numbers, multiplied by exp(i * angle): x (tokens, heads, key_dim)."""
    z = (x[..., 0::2] + 1j * x[..., 1::2]) * np.exp(1j * angles)[:, None, :]
    return np.stack([z.real, z.imag], axis=-1).reshape(x.shape)


@pytest.mark.parametrize("reference", [None, 16])
def test_rotary_angles_equal_numpy(reference):
    layer = keras_vit.layers.RotaryPosition2D(grid_size=(3, 4), num_prefix_tokens=1, key_dim=8,
                                              reference_grid_size=reference)
    angles = np.asarray(layer(np.zeros((1, 13, 16), "float32")))
    np.testing.assert_allclose(angles, numpy_angles(3, 4, 1, 8, reference), rtol=1e-6, atol=1e-6)


def test_rotated_logits_depend_on_the_offset_only():
    # RoPE's point: q(p) . k(p') after rotation is a function of p - p' for fixed q and k vectors.
    rng = np.random.default_rng(1)
    q, k = rng.normal(size=(1, 1, 8)), rng.normal(size=(1, 1, 8))
    angles = numpy_angles(5, 5, 0, 8)
    from keras_vit.layers.rotary_position_2d import rotate

    def logit(a, b):  # tokens a and b of the 5x5 grid
        rq = np.asarray(rotate(np.tile(q, (1, 25, 1, 1)).astype("float32"), angles.astype("float32")))[0, a, 0]
        rk = np.asarray(rotate(np.tile(k, (1, 25, 1, 1)).astype("float32"), angles.astype("float32")))[0, b, 0]
        return rq @ rk

    assert logit(0, 6) == pytest.approx(logit(12, 18), abs=1e-5)  # both (+1, +1)
    assert logit(7, 2) == pytest.approx(logit(23, 18), abs=1e-5)  # both (-1, 0)
    assert abs(logit(0, 6) - logit(0, 1)) > 1e-3


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_rotary_msa_equals_numpy():
    rng = np.random.default_rng(2)
    layer = keras_vit.layers.RotaryMSA(hidden_dim=16, num_heads=2)
    x = rng.normal(size=(2, 7, 16)).astype("float32")
    layer.build(x.shape)
    for weight in layer.weights:
        weight.assign(rng.normal(0, 0.3, weight.shape))
    angles = numpy_angles(2, 3, 1, 8, reference=4)
    got = np.asarray(layer(x, relative_keys=angles.astype("float32")))
    kernel, proj_w, proj_b = (np.asarray(v) for v in (layer.qkv.kernel, layer.projection.kernel,
                                                      layer.projection.bias))
    wq, wk, wv = np.split(kernel, 3, axis=1)
    for b in range(2):
        q = (x[b] @ wq + np.asarray(layer.query_bias)).reshape(7, 2, 8)
        k = (x[b] @ wk).reshape(7, 2, 8)  # no key bias
        v = (x[b] @ wv + np.asarray(layer.value_bias)).reshape(7, 2, 8)
        q, k = numpy_rotate(q, angles), numpy_rotate(k, angles)
        weights = softmax(np.einsum("ihd,jhd->hij", q, k) / np.sqrt(8))
        want = np.einsum("hij,jhd->ihd", weights, v).reshape(7, 16) @ proj_w + proj_b
        np.testing.assert_allclose(got[b], want, rtol=1e-4, atol=1e-4)
    assert len(layer.weights) == 5  # qkv kernel, query and value biases, projection: no key bias


@pytest.mark.parametrize("use_inner_norm", [False, True])
def test_swiglu_equals_numpy(use_inner_norm):
    rng = np.random.default_rng(3)
    layer = keras_vit.layers.SwiGLU(intermediate_dim=6, use_inner_norm=use_inner_norm, layer_norm_epsilon=1e-6)
    x = rng.normal(size=(2, 5, 4)).astype("float32")
    layer.build(x.shape)
    for weight in layer.weights:
        weight.assign(rng.normal(0.5, 0.3, weight.shape))
    w1, b1 = np.asarray(layer.fc1.kernel), np.asarray(layer.fc1.bias)
    gate, value = x @ w1[:, :6] + b1[:6], x @ w1[:, 6:] + b1[6:]
    hidden = gate / (1.0 + np.exp(-gate)) * value
    if use_inner_norm:
        mean, var = hidden.mean(-1, keepdims=True), hidden.var(-1, keepdims=True)
        hidden = (hidden - mean) / np.sqrt(var + 1e-6) * np.asarray(layer.norm.gamma) + np.asarray(layer.norm.beta)
    want = hidden @ np.asarray(layer.fc2.kernel) + np.asarray(layer.fc2.bias)
    np.testing.assert_allclose(np.asarray(layer(x)), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("overrides", [{"attention": "msa"}, {"rotary_position": "none"},
                                       {"position_encoding": "relative", "position_placement": "every_layer_shared"}])
def test_rotary_position_and_rotary_attention_come_together(overrides):
    with pytest.raises(ValueError, match="rotary_position and a rotary attention go together"):
        keras_vit.create(keras_vit.get_spec("eva02_ti14").tiny_spec(), **overrides)


@pytest.mark.parametrize("name", ["siglip_b16_224", "eva02_b14"])
def test_analytic_macs_count_map_pooling_and_swiglu_as_the_graph(name):
    from keras_vit.macs import count_macs, graph_macs

    spec = keras_vit.get_spec(name).tiny_spec()
    assert count_macs(spec) == graph_macs(keras_vit.build(spec))
