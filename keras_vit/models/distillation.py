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
        A functional `keras.Model` with two float32 outputs of shape (batch, num_classes).

    Example:
        >>> model = keras_vit.create("deit_ti16_distilled", num_classes=10)
        >>> student = keras_vit.models.distillation_outputs(model)
        >>> student.compile("adamw", loss=["sparse_categorical_crossentropy"] * 2, loss_weights=[0.5, 0.5])
        >>> student.fit(images, [labels, teacher_labels])
    """
    layout = getattr(model, "layout", None)
    head = model.get_layer(layout.head) if layout is not None and layout.head else None
    if head is None or not hasattr(head, "split_logits"):
        raise ValueError(
            f"Model {model.name!r} has no distilled head: create a distilled model (keras_vit.list_models('*distilled*')) "
            "or set head: distilled_classifier with use_distillation_token: true."
        )
    return keras.Model(model.inputs, list(head.split_logits(head.input)), name=f"{model.name}_distillation")
