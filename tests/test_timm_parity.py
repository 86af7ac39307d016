"""keras_vit's BiT layers against timm's ResNetV2 (numbers recorded from timm 1.0.29 by tools/timm_reference.py).

timm builds the ViT hybrids' stems with TF-style SAME padding, weight standardization sqrt(var + 1e-8) and GroupNorm
epsilon 1e-5, so the same settings here must give the same outputs from the same weights. The weights are not stored:
both sides draw them from numpy's default_rng(0) in Keras layout, in timm's state-dict order.
"""

import json
from pathlib import Path

import numpy as np
import pytest

import keras_vit
from keras_vit.layers import ResNetStem
from keras_vit.macs import count_macs
from keras_vit.models import ResNetV2

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TIMM_SETTINGS = {"group_norm_epsilon": 1e-5, "std_conv_epsilon": 1e-8, "std_conv_epsilon_mode": "variance"}
REFERENCE = json.loads((FIXTURES / "timm_reference.json").read_text())
ZOO_TO_TIMM = {
    "vit_r50_b16": "vit_base_r50_s16_224",
    "vit_r50_l32": "vit_large_r50_s32_224",
    "vit_r26_s32": "vit_small_r26_s32_224",
    "vit_r_ti16": "vit_tiny_r_s16_p8_224",
    "bit_r50x1": "resnetv2_50x1_bit",
    "bit_r50x3": "resnetv2_50x3_bit",
    "bit_r101x1": "resnetv2_101x1_bit",
    "bit_r101x3": "resnetv2_101x3_bit",
    "bit_r152x2": "resnetv2_152x2_bit",
    "bit_r152x4": "resnetv2_152x4_bit",
}


def value(rng, path, shape):
    """The rule tools/timm_reference.py used for each weight."""
    drawn = rng.standard_normal(shape).astype("float32")
    if path.endswith("gamma"):
        return drawn * 0.3 + 1.0
    if path.endswith(("beta", "bias")):
        return drawn * 0.3
    return drawn * (0.05 if path.startswith("head") else 0.1)


def load_fixture(name, layer):
    data = np.load(FIXTURES / f"timm_parity_{name}.npz")
    rng = np.random.default_rng(0)
    images = rng.standard_normal((2, 45, 37, 3)).astype("float32")
    if not layer.built:
        layer.build((2, 45, 37, 3))
    variables = {v.path: v for v in layer.weights}
    assigned = set()
    for path, shape in zip(data["paths"], data["shapes"]):
        shape = tuple(int(s) for s in str(shape).split(","))
        matches = [p for p in variables if p == path or p.endswith("/" + str(path))]
        assert len(matches) == 1, (path, matches)
        assert tuple(variables[matches[0]].shape) == shape, (path, shape)
        variables[matches[0]].assign(value(rng, str(path), shape))
        assigned.add(matches[0])
    assert assigned == set(variables), set(variables) - assigned  # every keras_vit weight has a timm counterpart
    return images, data["outputs"]


def test_hybrid_stem_matches_timm():
    stem = ResNetStem(stage_sizes=[2, 1], block="bottleneck", **TIMM_SETTINGS)
    images, expected = load_fixture("stem", stem)
    np.testing.assert_allclose(np.asarray(stem(images)), expected, atol=1e-5, rtol=1e-5)


def test_bit_classifier_matches_timm():
    # tools/timm_reference.py built this timm ResNetV2 with stem_type="same" and StdConv2dSame (TF SAME padding).
    model = ResNetV2(image_size=(45, 37), stage_sizes=[2, 1], num_classes=10, padding="same", **TIMM_SETTINGS)
    images, expected = load_fixture("bit", model)
    np.testing.assert_allclose(np.asarray(model(images)), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(ZOO_TO_TIMM))
def test_spec_counts_equal_timm(name):
    assert keras_vit.get_spec(name).expected_num_params == REFERENCE["counts"][ZOO_TO_TIMM[name]]


def attention_macs(tokens, dim, layers):
    return layers * 2 * tokens * tokens * dim


@pytest.mark.parametrize(
    "name,timm_name,attention,rel",
    [
        ("bit_r50x1", "resnetv2_50x1_bit", 0, 0),
        ("vit_r_ti16", "vit_tiny_r_s16_p8_224", attention_macs(50, 192, 12), 0),
        ("vit_r50_b16", "vit_base_r50_s16_224", attention_macs(197, 768, 12), 1e-5),
        ("vit_b16", "vit_base_patch16_224", attention_macs(197, 768, 12), 1e-5),
    ],
)
def test_macs_equal_torch_flop_counter_on_timm(name, timm_name, attention, rel):
    # torch's FlopCounterMode counted timm's convolutions and linear layers but not its fused CPU attention kernel,
    # so the attention matmuls are taken out of keras_vit's count for the comparison.
    assert count_macs(name) - attention == pytest.approx(REFERENCE["macs"][timm_name], rel=rel, abs=0)
