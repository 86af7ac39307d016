"""The registries: names, duplicates, suggestions, Keras serialization."""

import keras
import pytest

import keras_vit
from keras_vit.registry import Registry, registry


def test_every_kind_of_the_design_exists_and_is_populated():
    for kind in ("patch_embed", "position", "attention", "mlp", "block", "pooling", "head", "model"):
        assert registry(kind).names(), kind
    assert registry("position").names() == ["learned_1d", "learned_2d", "relative", "sincos_2d"] or set(
        registry("position").names()
    ) >= {"learned_1d", "learned_2d", "relative", "sincos_2d"}


def test_duplicate_names_raise_and_name_both_classes():
    reg = Registry("block")

    @reg.register("thing")
    class First:
        pass

    with pytest.raises(ValueError, match="already registered to .*First.*Second"):

        @reg.register("thing")
        class Second:
            pass

    reg.register("thing")(First)  # registering the same class again is harmless


def test_unknown_names_suggest_close_ones():
    with pytest.raises(ValueError, match=r"Unknown position 'learned_1D'\. Did you mean 'learned_1d'"):
        registry("position").get("learned_1D")
    with pytest.raises(ValueError, match="Unknown registry kind 'blocks'.*'block'"):
        registry("blocks")


def test_registered_layers_serialize_by_name():
    layer = registry("block").get("transformer_block")(hidden_dim=8, num_heads=2, intermediate_dim=16)
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == "keras_vit>TransformerBlock"
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is type(layer) and restored.get_config() == layer.get_config()


def test_register_decorator_from_the_public_api():
    @keras_vit.register("layer", "test_only_identity")
    class Identity(keras.layers.Layer):
        def call(self, inputs):
            return inputs

    try:
        assert registry("layer").get("test_only_identity") is Identity
        assert keras.saving.get_registered_object("tests>Identity") is Identity
    finally:
        registry("layer")._entries.pop("test_only_identity")
