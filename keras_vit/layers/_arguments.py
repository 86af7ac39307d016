"""get_config() from the constructor's signature, for layers that keep every argument under its own name."""

from keras_vit.registry import accepted_args


class ConfigFromArguments:
    """Layer mixin, listed first among the bases: get_config() is Keras's base config plus every constructor
    argument (keras_vit.registry.accepted_args), read from the attribute of the same name, or from the attribute that
    `argument_attributes` names where the argument's own name is taken (TransformerBlock's `attention` sublayer)."""

    argument_attributes = {}  # argument name -> attribute name, where they differ

    def keep_arguments(self, arguments):
        """Stores the constructor's arguments (its `locals()`, read after `super().__init__`) under the attribute
        names that get_config() reads them from."""
        for name, value in arguments.items():
            if name not in ("self", "kwargs", "__class__"):
                setattr(self, self.argument_attributes.get(name, name), value)

    def get_config(self):
        rename = self.argument_attributes
        return {**super().get_config(), **{a: getattr(self, rename.get(a, a)) for a in accepted_args(type(self))}}


def built(layer, input_shape):
    """`layer` after `layer.build(input_shape)`: a sublayer made and built in one expression."""
    layer.build(input_shape)
    return layer
