"""Multiply-accumulate (MAC) counts of zoo models: analytic from the hyperparameters, or measured on the graph.

Counted: convolutions, dense layers and the two attention matmuls (queries x keys, weights x values), one image per
forward pass; normalizations, activations, softmax and pooling are not (the convention of timm's and the papers'
GMAC figures). A family provides its count through a classmethod `macs_of(config) -> int`; families without one
(a plugin's, say) are counted on the traced TensorFlow graph of the built model.

    >>> from keras_vit.macs import count_macs
    >>> count_macs("vit_b16") / 1e9   # about 17.56
"""

import math

from keras_vit.registry import registry, slot_config
from keras_vit.schema import pair


def vit_macs(config):
    """MACs of a ViT (family "vit", with or without a registered stem) from its model section."""
    from keras_vit.models.vit import PREFIX_TOKENS, ViT, is_relative

    config = {**ViT.config_defaults(), **config}
    height, width = pair(config["image_size"])
    patch = pair(config["patch_size"])
    channels = config["num_channels"]
    macs = 0
    stem = config["stem"]
    if stem is not None:
        stem_cls, kwargs = ViT.SLOTS["stem"].component(stem)
        if not hasattr(stem_cls, "macs_of"):
            raise NotImplementedError(f"Stem {stem['name']!r} has no macs_of(kwargs, image_size, num_channels).")
        macs, (height, width, channels) = stem_cls.macs_of(kwargs, (height, width), channels)
    dim, mlp_dim, layers = config["hidden_dim"], config["intermediate_dim"], config["num_layers"]
    num_patches = (height // patch[0]) * (width // patch[1])
    macs += num_patches * patch[0] * patch[1] * channels * dim
    tokens = num_patches + sum(int(config[key]) for _, key in PREFIX_TOKENS)
    mlp_dense = 3 if slot_config(config["mlp"], "mlp")["name"] == "swiglu" else 2  # SwiGLU's fc1 is twice as wide
    per_block = tokens * dim * 3 * dim + 2 * tokens * tokens * dim + tokens * dim * dim + mlp_dense * tokens * dim * mlp_dim
    if is_relative(config["position_encoding"]):
        per_block += tokens * tokens * dim  # query x relative-key logits
    macs += layers * per_block
    if slot_config(config["pooling"], "token")["name"] == "map":  # the probe: keys and values of every token, its
        macs += 2 * tokens * dim * dim + 2 * tokens * dim + 2 * dim * dim + 2 * dim * mlp_dim  # attention, MLP
    num_classes = config["num_classes"]
    if num_classes:
        representation = config["representation_dim"]
        heads = 2 if slot_config(config["head"])["name"] == "distilled_classifier" else 1
        macs += dim * representation + representation * num_classes if representation else heads * dim * num_classes
    return macs


# Built-in analytic counters for families whose classes do not define macs_of.
ANALYTIC = {"vit": vit_macs}


def graph_macs(model):
    """MACs of one forward pass of a built Keras model on one image, read from its traced TensorFlow graph
    (Conv2D, MatMul, BatchMatMul and Einsum ops with static shapes)."""
    import tensorflow as tf

    spec = tf.TensorSpec((1, *model.inputs[0].shape[1:]), model.inputs[0].dtype)
    graph = tf.function(lambda images: model(images, training=False)).get_concrete_function(spec).graph
    total = 0
    for op in graph.get_operations():
        if op.type in ("Conv2D", "DepthwiseConv2dNative"):
            kernel = op.inputs[1].shape
            per_output = kernel[0] * kernel[1] * (kernel[2] if op.type == "Conv2D" else 1)
            total += math.prod(op.outputs[0].shape) * per_output
        elif op.type in ("MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"):
            transposed = op.get_attr("transpose_a" if op.type == "MatMul" else "adj_x")
            total += math.prod(op.outputs[0].shape) * op.inputs[0].shape[-2 if transposed else -1]
        elif op.type == "Einsum":
            inputs, _ = op.get_attr("equation").decode().replace(" ", "").split("->")
            operands = zip(inputs.split(","), op.inputs)
            sizes = {label: size for labels, tensor in operands for label, size in zip(labels, tensor.shape)}
            total += math.prod(sizes.values())
    return int(total)


def count_macs(name_or_spec, **overrides):
    """MACs of a zoo model for one image: analytic when its family provides a counter, else measured on the graph
    of the built model.

    Args:
        name_or_spec: a zoo name, alias, YAML path or ModelSpec.
        **overrides: model overrides (image_size=384, ...).
    """
    from keras_vit.spec import get_spec, thaw

    spec = get_spec(name_or_spec, **overrides)
    counter = getattr(registry("model").get(spec.family), "macs_of", None) or ANALYTIC.get(spec.family)
    if counter is not None:
        return int(counter(thaw(spec.model)))
    from keras_vit.zoo import create

    return graph_macs(create(spec))
