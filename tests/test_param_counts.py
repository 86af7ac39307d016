"""Full-size parameter counts against the original ViT release (numbers from the release and timm, written here
by hand, not read from our specs), and every spec's own expected_num_params."""

import keras
import pytest

import keras_vit

# At 224x224 with 1000 classes: google-research/vision_transformer and timm's published counts.
RELEASED_COUNTS = {
    "vit_ti16": 5_717_416,
    "vit_s16": 22_050_664,
    "vit_s32": 22_878_952,
    "vit_b8": 86_576_872,
    "vit_b16": 86_567_656,
    "vit_b32": 88_224_232,
    "vit_l16": 304_326_632,
    "vit_l32": 306_535_400,
    "vit_h14": 632_045_800,
}


@pytest.mark.parametrize("name", sorted(RELEASED_COUNTS))
def test_vit_zoo_parameter_counts_equal_the_release(name):
    model = keras_vit.create(name)
    assert model.count_params() == RELEASED_COUNTS[name]
    assert keras_vit.get_spec(name).expected_num_params == RELEASED_COUNTS[name]
    keras.backend.clear_session()


@pytest.mark.parametrize("name,expected", [("vit_b16", 86_859_496), ("vit_l16", 304_715_752)])
def test_parameter_counts_at_384(name, expected):
    assert keras_vit.create(name, image_size=384).count_params() == expected


@pytest.mark.parametrize("name", keras_vit.list_models(include_aliases=False))
def test_every_spec_states_its_count_with_a_source_and_a_tiny_size(name):
    spec = keras_vit.get_spec(name)
    assert spec.expected_num_params, f"{name} has no expected_num_params"
    assert spec.num_params_source, f"{name} does not say where its expected_num_params comes from"
    assert spec.tiny, f"{name} has no tiny test size"
