"""Feature extraction: the token sequences of chosen blocks, for detection or segmentation heads."""

import numbers

import keras

from keras_vit.models.layout import model_layout


def block_names(model, block_indices, purpose):
    """The names of the blocks `block_indices` picks from `model.layout.blocks` (negative counts from the end), or a
    ValueError naming the model, its number of blocks and the bad index."""
    blocks = model_layout(model, purpose).blocks
    given = list(block_indices) if hasattr(block_indices, "__iter__") and not isinstance(block_indices, str) else [""]
    if not all(isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in given):
        raise ValueError(f"{purpose}: block indices are a list of ints, e.g. [0, -1] (model {model.name!r} has "
                         f"{len(blocks)} blocks); received {block_indices!r}.")
    for index in given:
        if not -len(blocks) <= index < len(blocks):
            raise ValueError(
                f"Block index {index!r} is out of range: model {model.name!r} has {len(blocks)} blocks "
                f"(0..{len(blocks) - 1}, or negative from the end)."
            )
    return [blocks[int(index)] for index in given]


def feature_extractor(model, block_indices=None, layer_names=None):
    """A model from images to the outputs of chosen layers of a zoo model, sharing its weights.

    Args:
        model: a zoo model from `keras_vit.create`.
        block_indices: indices into `model.layout.blocks` (negative counts from the end); each output is the block's
            output: the token sequence (batch, num_tokens, hidden_dim) of a transformer block (for TNT, the patch
            tokens, not the words), the feature map of a ResNet unit.
        layer_names: alternatively, names of any layers of `model` (see `model.summary()`); any Keras model.

    Returns:
        A functional `keras.Model` returning a list of tensors, in the order asked for.

    Example:
        >>> backbone = keras_vit.create("vit_b16", include_top=False)
        >>> tokens = keras_vit.feature_extractor(backbone, block_indices=[3, 7, 11])
    """
    if (block_indices is None) == (layer_names is None):
        raise ValueError("Pass exactly one of block_indices=[...] or layer_names=[...].")
    if block_indices is not None:
        layer_names = block_names(model, block_indices, "feature_extractor(block_indices=...)")
    if not len(layer_names):
        raise ValueError("feature_extractor: pass at least one block index or layer name; received an empty list.")
    known = [layer.name for layer in model.layers]
    outputs = []
    for layer_name in layer_names:
        if layer_name not in known:
            from keras_vit.registry import suggest

            raise ValueError(f"Model {model.name!r} has no layer {layer_name!r}.{suggest(layer_name, known)}")
        output = model.get_layer(layer_name).output
        if block_indices is not None and isinstance(output, (list, tuple)):
            # A block with several outputs (TNTBlock returns words, tokens) ends with its token sequence.
            output = output[-1]
        outputs.append(output)
    return keras.Model(model.input, outputs, name=f"{model.name}_features")
