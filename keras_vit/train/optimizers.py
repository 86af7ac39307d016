"""Optimizers of the recipes: SGD with momentum (the ViT release) and AdamW (DeiT), with weight decay that skips
norms, biases, position embeddings and tokens, and optional layer-wise learning-rate decay."""

import keras

from keras_vit.compat import ClipAfterCrossReplicaSum, optimizer_variable_path
from keras_vit.models.layout import model_layout
from keras_vit.schema import one_of

_ADAM = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8}


def no_weight_decay(model):
    """The paths of the variables that weight decay skips (DeiT's exclusion list): a zoo model's
    `layout.no_decay_variables` (biases, norms, position tables, class/distillation/register tokens); for a model
    without a layout, its variables of rank <= 1 (biases and norms)."""
    layout = getattr(model, "layout", None)
    if layout is not None:
        return frozenset(layout.no_decay_variables)
    return frozenset(v.path for v in model.weights if len(v.shape) <= 1)


def layer_decay_scales(model, decay):
    """{trainable variable path: learning-rate multiplier} = decay ** (num_blocks + 1 - depth) (BEiT's layer-wise
    decay), the depth along `model.layout` being 0 for the stem layers, i + 1 for the variables of block i, and
    num_blocks + 1 for the rest (final norm, pooling, head)."""
    layout = model_layout(model, "layer-wise learning-rate decay")
    depths = {}
    # Variables are found through the layer objects, so a block's nested sublayers count whatever their paths.
    for depth, names in enumerate([layout.stem, *((name,) for name in layout.blocks)]):
        for name in names:
            depths.update((v.path, depth) for v in model.get_layer(name).trainable_weights)
    top = len(layout.blocks) + 1
    return {v.path: float(decay ** (top - depths.get(v.path, top))) for v in model.trainable_variables}


class _LayerScaled(ClipAfterCrossReplicaSum):
    """Multiplies the learning rate of each variable by `layer_scales[variable.path]` (default 1), and clips the
    gradient summed over replicas rather than each replica's share (`keras_vit.compat.ClipAfterCrossReplicaSum`)."""

    def __init__(self, *args, layer_scales=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.layer_scales = dict(layer_scales or {})

    def update_step(self, gradient, variable, learning_rate):
        if self.layer_scales:
            scale = self.layer_scales.get(optimizer_variable_path(self, variable), 1.0)
            if scale != 1.0:
                learning_rate = learning_rate * scale
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "layer_scales": dict(self.layer_scales)}


@keras.saving.register_keras_serializable(package="keras_vit")
class LayerScaledSGD(_LayerScaled, keras.optimizers.SGD):
    """keras.optimizers.SGD with a per-variable learning-rate multiplier (`layer_scales`: path -> float)."""


@keras.saving.register_keras_serializable(package="keras_vit")
class LayerScaledAdamW(_LayerScaled, keras.optimizers.AdamW):
    """keras.optimizers.AdamW with a per-variable learning-rate multiplier (`layer_scales`: path -> float)."""


@keras.saving.register_keras_serializable(package="keras_vit")
class LayerScaledAdam(_LayerScaled, keras.optimizers.Adam):
    """keras.optimizers.Adam with a per-variable learning-rate multiplier (`layer_scales`: path -> float)."""


# name -> (class, the keys of the recipe's optimizer section that the rule takes, with their defaults)
_RULES = {"sgd": (LayerScaledSGD, {"momentum": 0.9, "nesterov": False}), "adamw": (LayerScaledAdamW, _ADAM),
          "adam": (LayerScaledAdam, _ADAM)}
OPTIMIZER = one_of(*_RULES)  # the recipe's optimizer.name checks through it
OPTIMIZERS = OPTIMIZER.choices


def make_optimizer(config, learning_rate, model):
    """The optimizer of a recipe's `optimizer` section.

    Args:
        config: mapping with name ("sgd" | "adamw" | "adam"), momentum, beta_1, beta_2, epsilon, weight_decay,
            global_clipnorm, layer_decay (None or a float in (0, 1]).
        learning_rate: a float or a LearningRateSchedule.
        model: the model to train (its trainable variables for the weight-decay exclusions, its `layout` for
            layer decay).

    Returns:
        A keras optimizer; weight decay skips the variables `no_weight_decay(model)` names.
    """
    name = OPTIMIZER.check("optimizer.name", config["name"])
    layer_decay = config.get("layer_decay")
    scales = layer_decay_scales(model, layer_decay) if layer_decay not in (None, 1, 1.0) else {}
    weight_decay = config.get("weight_decay") or (0.0 if name == "adamw" else None)
    cls, rule = _RULES[name]
    optimizer = cls(learning_rate=learning_rate, global_clipnorm=config.get("global_clipnorm"), weight_decay=weight_decay,
                    layer_scales=scales, **{key: config.get(key, default) for key, default in rule.items()})
    if optimizer.weight_decay is not None:
        skipped = no_weight_decay(model)
        optimizer.exclude_from_weight_decay(var_list=[v for v in model.trainable_variables if v.path in skipped])
    return optimizer
