"""Specs assemble models from registered components: slots in YAML, one schema checked at load, published layouts,
and the families that exist as specs alone (DeiT, DeiT-III, register tokens)."""

import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.spec import SpecError

TINY = dict(image_size=32, patch_size=8, hidden_dim=32, num_layers=2, num_heads=2, intermediate_dim=64, num_classes=5)
IMAGES = np.random.default_rng(3).normal(size=(2, 32, 32, 3)).astype("float32")

# timm's counts with 1000 classes (issue 13, from timm's model registry), written here by hand.
TIMM_COUNTS = {
    "deit_tiny_patch16_224": 5_717_416,
    "deit_small_patch16_224": 22_050_664,
    "deit_base_patch16_224": 86_567_656,
    "deit_tiny_distilled_patch16_224": 5_910_800,
    "deit_small_distilled_patch16_224": 22_436_432,
    "deit_base_distilled_patch16_224": 87_338_192,
    "deit_base_distilled_patch16_384": 87_630_032,
    "deit3_small_patch16_224": 22_059_496,
    "deit3_base_patch16_224": 86_585_320,
    "deit3_large_patch16_224": 304_374_760,
    "vit_base_patch16_reg4_gap_256": 86_615_272,
    "vit_medium_patch16_reg4_gap_256": 38_881_768,
}


# Built at full size in the default run: one model per new feature (distillation token and head, LayerScale with
# patch-only positions, register tokens with fc_norm); their twins (other widths) run in the slow step.
DEFAULT_COUNTS = {"deit_tiny_distilled_patch16_224", "deit3_small_patch16_224", "vit_medium_patch16_reg4_gap_256"}


@pytest.mark.parametrize(
    "name", [n if n in DEFAULT_COUNTS else pytest.param(n, marks=pytest.mark.slow) for n in sorted(TIMM_COUNTS)]
)
def test_new_families_have_timms_parameter_counts(name):
    model = keras_vit.create(name)
    assert model.count_params() == TIMM_COUNTS[name]
    assert keras_vit.get_spec(name).expected_num_params == TIMM_COUNTS[name]
    keras.backend.clear_session()


def write_spec(folder, text):
    path = Path(folder) / "broken_vit.yaml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize(
    "model_section,key_path,words",
    [
        ("block: preact_bottleneck", "model.block", "works on feature_map"),
        ("block: tnt_block", "model.block", "works on words_and_tokens"),
        ("position_encoding: pixel_position", "model.position_encoding", "works on words"),
        ("attention: {name: msa, num_heads: 3}", "model.attention", "set by the model itself"),
        ("attention: {name: msa, num_head: 3}", "model.attention", "Did you mean 'num_heads'"),
        ("mlp: mpl", "model.mlp", "Did you mean 'mlp'"),
        ("block: {layer_scale_init_value: -1.0}", "model.block.layer_scale_init_value", "positive number"),
        ("head: {name: classifier, dropout_rate: 1.5}", "model.head.dropout_rate", "[0, 1)"),
    ],
)
def test_an_incompatible_component_fails_at_spec_load(tmp_path, model_section, key_path, words):
    path = write_spec(tmp_path, f"""
        name: broken_vit
        extends: vit_ti16
        model:
          {model_section}
        """)
    with pytest.raises(SpecError) as error:
        keras_vit.get_spec(path)
    message = str(error.value)
    assert str(path) in message and key_path in message and words in message


def test_a_transformer_block_in_a_resnet_fails_at_spec_load(tmp_path):
    path = tmp_path / "broken_resnet.yaml"
    path.write_text("name: broken_resnet\nextends: bit_r50x1\nmodel:\n  block: transformer_block\n")
    with pytest.raises(SpecError, match="model.block: block 'transformer_block' works on tokens"):
        keras_vit.get_spec(path)


def test_importing_the_spec_package_imports_neither_keras_nor_tensorflow():
    root = Path(keras_vit.__file__).parent
    code = textwrap.dedent(f"""
        import sys, types
        package = types.ModuleType("keras_vit")
        package.__path__ = [{str(root)!r}]  # the package itself, without running keras_vit/__init__.py
        sys.modules["keras_vit"] = package
        import keras_vit.spec
        loaded = [m for m in ("tensorflow", "keras") if m in sys.modules]
        assert not loaded, loaded
        print("clean")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "clean", result.stderr[-2000:]


class ScaleNorm(keras.layers.Layer):
    """x * g / ||x|| * sqrt(width): a norm the zoo does not have, to fill the `norm` slot from a spec."""

    def __init__(self, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

    def call(self, inputs):
        norm = keras.ops.sqrt(keras.ops.mean(keras.ops.square(inputs), axis=-1, keepdims=True) + self.epsilon)
        return inputs / norm * self.scale

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@pytest.fixture
def scale_norm():
    """ScaleNorm registered as the norm "test_scale_norm" for one test (the registry is global)."""
    keras_vit.register("norm", "test_scale_norm")(ScaleNorm)
    yield
    keras_vit.registry("norm")._entries.pop("test_scale_norm")


def test_a_spec_fills_the_norm_slot_of_every_block_and_the_final_norm(tmp_path, scale_norm):
    model = keras_vit.create("vit_ti16", **TINY, norm="test_scale_norm")
    norms = [model.get_layer("encoder_norm")] + [
        sub for name in model.layout.blocks for sub in (model.get_layer(name).norm1, model.get_layer(name).norm2)
    ]
    assert all(isinstance(layer, ScaleNorm) for layer in norms)
    # LayerNorm's 2 * 32 parameters per norm (5 norms) are replaced by one scale each.
    assert keras_vit.create("vit_ti16", **TINY).count_params() - model.count_params() == 5 * (64 - 1)
    path = tmp_path / "scale_norm.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(restored(IMAGES), model(IMAGES), atol=1e-6)


def test_layer_scale_from_a_slot_argument_scales_both_branches():
    model = keras_vit.create("vit_ti16", **TINY, block={"layer_scale_init_value": 0.5})
    block = model.get_layer("block_1")
    for layer in (block.layer_scale_1, block.layer_scale_2):
        np.testing.assert_array_equal(np.asarray(layer.gamma), np.full((32,), 0.5, "float32"))
    assert model.get_config()["block"] == {"layer_scale_init_value": 0.5}


def test_distilled_output_is_the_mean_of_both_heads():
    model = keras_vit.create("deit_ti16_distilled", **TINY)
    for variable in model.weights:  # the heads start at zero: give every variable a value
        variable.assign(np.random.default_rng(len(variable.path)).normal(0, 0.1, variable.shape))
    student = keras_vit.models.distillation_outputs(model)
    logits, distillation_logits = (np.asarray(t) for t in student(IMAGES))
    assert not np.allclose(logits, distillation_logits)
    np.testing.assert_allclose(np.asarray(model(IMAGES)), (logits + distillation_logits) / 2, atol=1e-5)
    assert set(model.layout.head_variables) == {
        "head/classifier/kernel", "head/classifier/bias",
        "head/distillation_classifier/kernel", "head/distillation_classifier/bias",
    }
    with pytest.raises(ValueError, match="no distilled head"):
        keras_vit.models.distillation_outputs(keras_vit.create("vit_ti16", **TINY))


def test_deit3_positions_cover_the_patches_and_skip_the_class_token():
    model = keras_vit.create("deit3_s16", **TINY)
    table = model.get_layer("position_embedding")
    table.embeddings.assign(np.random.default_rng(0).normal(size=table.embeddings.shape))
    model.get_layer("class_token").token.assign(np.full((1, 1, 32), 7.0))
    assert tuple(table.embeddings.shape) == (1, 16, 32)
    assert model.layout.position_tables[0].num_prefix_tokens == 0
    probe = keras.Model(model.inputs, [model.get_layer("patch_embed").output, model.get_layer("class_token").output])
    patches, tokens = (np.asarray(t) for t in probe(IMAGES))
    np.testing.assert_array_equal(tokens[:, 0], np.full((2, 32), 7.0))
    np.testing.assert_allclose(tokens[:, 1:], patches + np.asarray(table.embeddings), atol=1e-6)


def test_register_tokens_are_left_out_of_the_average_and_the_norm_follows_it():
    model = keras_vit.create("vit_b16_reg4_gap", **TINY)
    assert model.layout.num_prefix_tokens == 4 and model.layout.pooled == "fc_norm"
    probe = keras.Model(model.inputs, [model.get_layer("block_1").output, model.get_layer("fc_norm").output])
    tokens, pooled = (np.asarray(t) for t in probe(IMAGES))
    assert tokens.shape == (2, 4 + 16, 32)
    mean = tokens[:, 4:].mean(axis=1)
    expected = (mean - mean.mean(-1, keepdims=True)) / np.sqrt(mean.var(-1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(pooled, expected, atol=1e-4)
