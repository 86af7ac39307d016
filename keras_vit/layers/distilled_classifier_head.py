"""DeiT's distilled head: a classifier on the class token and another on the distillation token."""

import keras

from keras_vit.layers._arguments import built
from keras_vit.layers.classifier_head import ClassifierHead
from keras_vit.registry import register


@register("head", "distilled_classifier")
class DistilledClassifierHead(ClassifierHead):
    """Dense(num_classes) on the class token and a second Dense(num_classes) on the distillation token; the output
    is their mean, as the DeiT release predicts (float32, as ClassifierHead's, which it shares its output shape,
    dtype and activation with). `split_logits` gives both, for training against a teacher
    (`keras_vit.models.distillation_outputs`).

    Args:
        num_classes: int, the number of outputs.
        activation: None for logits, or the name of a Keras activation ("softmax"), applied to the mean.

    Call arguments:
        inputs: the class and distillation tokens, shape (batch, 2, hidden_dim) (pooling {name: token,
            num_tokens: 2}).

    Returns:
        A float32 tensor of shape (batch, num_classes).

    Reference:
        Touvron et al., "Training data-efficient image transformers & distillation through attention", 2021.
    """

    def __init__(self, num_classes=1000, activation=None, **kwargs):
        super().__init__(num_classes, activation=activation, **kwargs)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3 or input_shape[1] != 2:
            raise ValueError(
                f"DistilledClassifierHead reads the class and distillation tokens, shape (batch, 2, hidden_dim); "
                f"received {input_shape}: pool with {{name: token, num_tokens: 2}}."
            )
        features = (input_shape[0], input_shape[-1])
        self.classifier, self.distillation_classifier = (
            built(keras.layers.Dense(self.num_classes, kernel_initializer="zeros", dtype=self.dtype_policy, name=name),
                  features)
            for name in ("classifier", "distillation_classifier")
        )

    def split_logits(self, inputs):
        """(class-token logits, distillation-token logits), each float32 of shape (batch, num_classes)."""
        return (
            keras.ops.cast(self.classifier(inputs[:, 0]), "float32"),
            keras.ops.cast(self.distillation_classifier(inputs[:, 1]), "float32"),
        )

    def call(self, inputs):
        logits, distillation_logits = self.split_logits(inputs)
        mean = (logits + distillation_logits) / 2.0
        return mean if self.activation is None else self._activation(mean)
