"""The classification head, with the optional pre-logits representation layer."""

import keras

from keras_vit.layers._arguments import ConfigFromArguments, built
from keras_vit.registry import register


@register("head", "classifier")
class ClassifierHead(ConfigFromArguments, keras.layers.Layer):
    """Optional Dense(representation_dim) + tanh ("pre_logits" of the ViT release) followed by Dense(num_classes).

    Args:
        num_classes: int, the number of outputs.
        representation_dim: int or None, width of the tanh pre-logits layer; None skips it.
        dropout_rate: float, dropout before the classifier while training.
        activation: None for logits, or the name of a Keras activation ("softmax").

    Call arguments:
        inputs: pooled features of shape (batch, hidden_dim).
        training: bool.

    Returns:
        A float32 tensor of shape (batch, num_classes), also under a mixed-precision policy: a softmax or a
        cross-entropy over bfloat16 logits loses accuracy, so the head's outputs leave it in float32.
    """

    # Read by keras_vit.testing.check_layer: this layer's outputs are float32 under a mixed policy.
    output_dtype = "float32"
    interface = "features"  # pooled features in; a task model's head slot takes other heads

    def __init__(self, num_classes=1000, representation_dim=None, dropout_rate=0.0, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.keep_arguments(locals())
        self._activation = keras.activations.get(activation)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        policy = self.dtype_policy
        self.pre_logits = None
        if self.representation_dim is not None:
            pre_logits = keras.layers.Dense(self.representation_dim, activation="tanh", dtype=policy, name="pre_logits")
            self.pre_logits = built(pre_logits, input_shape)
            input_shape = input_shape[:-1] + (self.representation_dim,)
        self.dropout = keras.layers.Dropout(self.dropout_rate, dtype=policy, name="dropout")
        # A zero classifier starts every class at equal odds; the ViT release initializes its head this way.
        classifier = keras.layers.Dense(self.num_classes, kernel_initializer="zeros", dtype=policy, name="classifier")
        self.classifier = built(classifier, input_shape)

    def call(self, inputs, training=None):
        x = inputs if self.pre_logits is None else self.pre_logits(inputs)
        logits = keras.ops.cast(self.classifier(self.dropout(x, training=training)), "float32")
        return logits if self.activation is None else self._activation(logits)

    def compute_output_spec(self, inputs, training=None):
        # Keras would derive the symbolic dtype from the compute dtype (bfloat16 under a mixed policy).
        return keras.KerasTensor((inputs.shape[0], self.num_classes), dtype="float32")
