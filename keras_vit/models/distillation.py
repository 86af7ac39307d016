"""Both outputs of a distilled model (DeiT), for training against a teacher."""

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


@keras.saving.register_keras_serializable("keras_vit")
class HardDistillation(keras.Model):
    """DeiT's hard-label distillation: trains a distilled zoo model against a frozen teacher.

    Keras 3.15's `keras.distillation.Distiller` applies its student loss and its distillation loss to the same
    outputs and requires the teacher's outputs to match the student's; here the class head learns the labels and
    the distillation head the teacher's argmax, so this small wrapper does it instead:
    loss = (compiled loss(labels, class logits) + cross-entropy(argmax teacher(images), distillation logits)) / 2.

    Args:
        student: a zoo model with a distilled head (its weights are trained; evaluate and save it afterwards).
        teacher: any Keras model from the same images (batch, H, W, C) to (batch, num_classes) logits or
            probabilities; frozen.

    Call returns [class logits, distillation logits], each (batch, num_classes); metrics see their mean (what
    the student predicts). Logs `label_loss` and `distillation_loss` besides `loss`.

    Reference:
        Touvron et al., "Training data-efficient image transformers & distillation through attention", 2021, eq. 3.
    """

    def __init__(self, student, teacher, **kwargs):
        super().__init__(**kwargs)
        self.student, self.teacher = student, teacher
        self.heads = distillation_outputs(student)
        classes = self.heads.outputs[1].shape[-1]
        if getattr(teacher, "outputs", None) and tuple(teacher.outputs[0].shape[1:]) != (classes,):
            raise ValueError(f"The teacher {teacher.name!r} outputs {tuple(teacher.outputs[0].shape)}, but the "
                             f"student {student.name!r} has {classes} classes: give a teacher with {classes} outputs.")
        teacher.trainable = False
        self.label_loss, self.distillation_loss = (keras.metrics.Mean(name=name)
                                                   for name in ("label_loss", "distillation_loss"))

    def call(self, images, training=None):
        return self.heads(images, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        logits, distillation_logits = y_pred
        label_loss = super().compute_loss(x, y, logits, sample_weight, training)
        teacher_labels = keras.ops.argmax(self.teacher(x, training=False), axis=-1)
        distillation_loss = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(
            teacher_labels, distillation_logits, from_logits=True))
        self.label_loss.update_state(label_loss)
        self.distillation_loss.update_state(distillation_loss)
        return (label_loss + distillation_loss) / 2.0

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return super().compute_metrics(x, y, (y_pred[0] + y_pred[1]) / 2.0, sample_weight)

    def get_config(self):
        return {**super().get_config(), "student": keras.saving.serialize_keras_object(self.student),
                "teacher": keras.saving.serialize_keras_object(self.teacher)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        models = {key: keras.saving.deserialize_keras_object(config.pop(key)) for key in ("student", "teacher")}
        return cls(**models, **config)
