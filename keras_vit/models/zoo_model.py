"""The base class of every zoo model family: a functional keras.Model whose config is its spec's model section."""

import inspect
from types import MappingProxyType

import keras

from keras_vit.compat import nested_layers, zoo_model_bases


def _own_policy(layer):
    """A layer's dtype policy (its entry, when it holds a DTypePolicyMap: a model loaded after quantization)."""
    policy = layer.dtype_policy
    return policy[layer.path] if isinstance(policy, keras.dtype_policies.DTypePolicyMap) else policy


def provided(slot, values):
    """The arguments that a model family provides to a slot, from its hyperparameters and computed `values`."""
    return {key: values[key] for key in slot.provided if key in values}


class ZooModel(*zoo_model_bases(), keras.Model):
    """A functional model built by a family's constructor from plain hyperparameters.

    Subclasses build the graph in `__init__` and end with `super().__init__(inputs=..., outputs=..., name=...)`
    followed by `self._store_config(locals())`. `get_config()` returns exactly those hyperparameters, so
    `from_config(get_config())` rebuilds the same architecture and `.keras` files need no extra code. Training,
    inference and compilation are Keras's own, on every Keras backend; `call` only adds an image-shape check.
    """

    @classmethod
    def config_defaults(cls):
        """The hyperparameters of this family and their defaults, in constructor order."""
        parameters = inspect.signature(cls.__init__).parameters.values()
        return {p.name: p.default for p in parameters if p.name != "self" and p.kind == p.POSITIONAL_OR_KEYWORD}

    @classmethod
    def config_names(cls):
        """The hyperparameter names of this family, in constructor order."""
        return list(cls.config_defaults())

    @staticmethod
    def check_hyperparameters(**config):
        """Cross-field rules of a family's hyperparameters (the spec schema checks each value); subclasses override.
        Called once, when a spec loads (keras_vit.schema.validate_model)."""

    # The one override of Keras's model: images of another size get an error that says how to fix them, also
    # inside predict/fit's traced functions (where Keras's input_spec check does not run).
    @property
    def input_spec(self):
        return None

    @input_spec.setter
    def input_spec(self, value):
        pass

    def call(self, inputs, training=None, mask=None):
        check_image_shape(inputs, self.inputs[0].shape, self.name)
        return super().call(inputs, training=training, mask=mask)

    def fit(self, *args, **kwargs):
        # Keras freezes int8 kernels: fit would move only norms and biases and the loss would still fall.
        frozen = [layer.path for layer in nested_layers(self)
                  if layer is not self and layer.quantization_mode and not getattr(layer, "lora_enabled", False)]
        if frozen:
            raise ValueError(
                f"Model {self.name!r} is quantized ({len(frozen)} layers with frozen int8 kernels, e.g. {frozen[0]}): "
                "fit would not change them. Train the float model and quantize it afterwards (keras_vit.quantization."
                "quantize, `keras-vit quantize`), or enable LoRA on every quantized layer (layer.enable_lora(rank))."
            )
        return super().fit(*args, **kwargs)

    def _store_config(self, local_vars):
        # A read-only mapping: Keras's attribute tracking wraps dicts (and a stem's nested dict), not mapping proxies.
        self._zoo_config = MappingProxyType({name: local_vars[name] for name in self.config_names()})
        if local_vars.get("dtype") is not None:
            # A functional model ignores `dtype` for itself, but compile() reads the model's own policy to add loss
            # scaling under mixed_float16: without this, float16 training would underflow silently.
            self.dtype_policy = local_vars["dtype"]

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable}
        config.update(self._zoo_config)
        quantized = {layer.path: _own_policy(layer) for layer in nested_layers(self) if layer.quantization_mode}
        if quantized:
            # After model.quantize("int8"): the quantized sublayers' policies by layer path, so that from_config
            # builds their int8 variables (the layers pass the map on to their sublayers as their dtype).
            default = config.get("dtype") or keras.config.dtype_policy()
            if isinstance(default, keras.dtype_policies.DTypePolicyMap):  # loaded from an int8 .keras file
                default = default.default_policy
            config["dtype"] = keras.dtype_policies.DTypePolicyMap(default_policy=default, policy_map=quantized)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if "dtype" in config and isinstance(config["dtype"], dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)


def check_image_shape(images, expected_shape, model_name):
    """Raises a ValueError that names the expected and received image shapes when they differ (static shapes)."""
    shape = tuple(getattr(images, "shape", ()))
    expected = tuple(expected_shape)
    if len(shape) != len(expected) or any(s is not None and e is not None and s != e for s, e in zip(shape, expected)):
        height, width, channels = expected[1:]
        fix = (f"Pass images of shape (batch, height, width, {channels})" if height is None or width is None else
               f"Resize the images to {height}x{width} with {channels} channels, or create the model for this size "
               "(keras_vit.create(..., image_size=...))")
        raise ValueError(f"Model {model_name!r} takes images of shape (batch, {height}, {width}, {channels}); received "
                         f"an input of shape {shape}. {fix}.")
