"""Both outputs of a distilled model (DeiT), for training against a teacher."""

from __future__ import annotations

import keras


def distillation_outputs(model):
    """A model from images to [class-token logits, distillation-token logits], sharing `model`'s weights.

    A distilled zoo model (e.g. `deit_s16_distilled`) predicts the mean of its two classifiers; training with a
    teacher (DeiT's hard distillation) needs them apart: the class head learns the labels, the distillation head
    the teacher's predictions.

    Args:
        model: a zoo model whose head is `distilled_classifier`.

    Returns:
        A functional `keras.Model` with two float32 outputs of shape (batch, num_classes), named "logits" and
        "distillation_logits".

    Example:
        >>> model = keras_vit.create("deit_ti16_distilled", num_classes=10)
        >>> student = keras_vit.models.distillation_outputs(model)
        >>> loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        >>> student.compile("adamw", loss=[loss, loss], loss_weights=[0.5, 0.5])
        >>> student.fit(images, [labels, teacher_labels])
    """
    layout = getattr(model, "layout", None)
    head = model.get_layer(layout.head) if layout is not None and layout.head else None
    if head is None or not hasattr(head, "split_logits"):
        raise ValueError(
            f"Model {model.name!r} has no distilled head: create a distilled model (keras_vit.list_models('*distilled*')) "
            "or set head: distilled_classifier with use_distillation_token: true."
        )
    logits, distillation_logits = head.split_logits(head.input)
    outputs = [keras.layers.Identity(name="logits")(logits),
               keras.layers.Identity(name="distillation_logits")(distillation_logits)]
    return keras.Model(model.inputs, outputs, name=f"{model.name}_distillation")
