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
}
# Built at full size in the default run: one model per family and feature; their twins run in the slow step.
DEFAULT_COUNTS = {"vit_small_patch14_reg4_dinov2", "vit_base_patch16_siglip_224"}


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


@pytest.mark.parametrize("name", ["dinov2_s14_reg4", "siglip_b16_224"])
def test_classifier_any_size_and_attention_maps(name):
    spec = keras_vit.get_spec(name).tiny_spec()
    model = keras_vit.create(spec, num_classes=5, dynamic_image_size=True)
    patch = spec.model["patch_size"]
    images = np.random.default_rng(0).normal(size=(2, 3 * patch, 5 * patch, 3)).astype("float32")
    assert model(images).shape == (2, 5)
    prefix = model.layout.num_prefix_tokens
    maps = keras_vit.attention_maps(model, images)
    assert len(maps) == spec.model["num_layers"]
    assert maps[0].shape == (2, spec.model["num_heads"], prefix + 15, prefix + 15)
    np.testing.assert_allclose(maps[-1].sum(-1), 1.0, atol=1e-5)
