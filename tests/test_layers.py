"""Every registered layer passes the shared layer check (config, round trip, training step, mixed_bfloat16)."""

import keras
import pytest

from keras_vit.registry import KINDS, registry
from keras_vit.testing import check_layer
from tests.layer_examples import LAYER_EXAMPLES


def registered_layers():
    found = []
    for kind in KINDS:
        for name in registry(kind).names():
            cls = registry(kind).get(name)
            if issubclass(cls, keras.layers.Layer) and not issubclass(cls, keras.Model):
                found.append((kind, name))
    return found


def test_every_registered_layer_has_an_example():
    missing = sorted(set(registered_layers()) - set(LAYER_EXAMPLES))
    assert not missing, f"add these registered layers to tests/layer_examples.py: {missing}"


@pytest.mark.parametrize("kind,name", sorted(LAYER_EXAMPLES), ids=lambda v: str(v))
def test_layer_check(kind, name):
    input_shape, init_kwargs, non_default, trains = LAYER_EXAMPLES[(kind, name)]
    check_layer(registry(kind).get(name), input_shape, init_kwargs, non_default, trains=trains)


def test_layer_check_catches_a_config_that_forgets_an_argument():
    class Forgetful(keras.layers.Layer):
        def __init__(self, width=3, **kwargs):
            super().__init__(**kwargs)
            self.width = width

        def call(self, inputs):
            return inputs

        def get_config(self):  # Keras would fill in `width` by itself; this config drops it
            config = super().get_config()
            config.pop("width", None)
            return config

    with pytest.raises(AssertionError, match="missing \\['width'\\]"):
        check_layer(Forgetful, (2, 3), trains=False)
