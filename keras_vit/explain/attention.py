"""Attention maps: the softmax attention weights every block of a zoo model computes for given images.

The model's own forward pass is left as it is (its attention runs as one fused kernel that never materializes the
weights). Extraction builds a second Keras model, sharing the weights, from the images to the inputs of the chosen
blocks (each layer's `input`, what the block was called with), then asks each block for its weights through
`attention_probabilities(*block_inputs)`, a method that TransformerBlock, TNTBlock and MAPPooling publish.
"""

import inspect

import keras
import numpy as np

from keras_vit.models.features import block_names
from keras_vit.models.layout import image_multiple, model_layout
from keras_vit.models.zoo_model import check_image_shape
from keras_vit.schema import POSITIVE_INT


def attention_blocks(model, block_indices=None, purpose="attention_maps"):
    """The layers of the chosen blocks, checked to publish their attention weights.

    Raises:
        ValueError: the model has no attention (a BiT ResNet) or an index is out of range.
    """
    layout = model_layout(model, purpose)
    indices = range(len(layout.blocks)) if block_indices is None else block_indices
    blocks = [model.get_layer(name) for name in block_names(model, indices, purpose)]
    without = [block for block in blocks if not hasattr(block, "attention_probabilities")]
    if without:
        kinds = sorted({type(block).__name__ for block in without})
        raise ValueError(
            f"Model {model.name!r} has no attention to show: its blocks ({', '.join(kinds)}) do not "
            "attend. Attention maps need a ViT-family model (ViT, DeiT, a hybrid, TNT), e.g. "
            "keras_vit.create('vit_b16')."
        )
    return blocks


def attention_pooling(model):
    """The model's attention pooling layer (`model.layout.attention_pooling`: MAP's probe), or None."""
    name = model_layout(model, "pooling_attention").attention_pooling
    return model.get_layer(name) if name else None


def check_images(model, images):
    """`images` as a float32 array of the model's input shape, or a ValueError saying how to fix them."""
    array = np.asarray(images)
    if not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"images must be a numeric array; received dtype {array.dtype}.")
    if array.ndim == 4 and not len(array):
        raise ValueError("images is empty: pass at least one image, shape (batch >= 1, height, width, channels).")
    try:
        check_image_shape(array, model.inputs[0].shape, model.name)
    except ValueError as error:
        raise ValueError(f"{error} keras_vit.preprocessing(model) resizes and normalizes [0, 255] images.") from None
    return array.astype("float32")


def patch_grid(model, images):
    """(rows, columns) of the patch grid the model makes of `images` (its own grid, or for a model made with
    dynamic_image_size, the grid of these images' size)."""
    if None not in tuple(model.inputs[0].shape[1:3]):
        return tuple(model.layout.grid_size)
    step = image_multiple(model.layout)
    return (images.shape[1] // step[0], images.shape[2] // step[1])


def tap(model, tensors, images, batch_size, function):
    """function(the values of `tensors`, a flat list of the model's tensors, for a batch of `images`) -> list of
    arrays, for every batch; the lists concatenated along the batch. The model tapped shares the weights."""
    POSITIVE_INT.check("batch_size", batch_size)
    taps = keras.Model(model.input, tensors, name=f"{model.name}_taps")
    batches = (images[start : start + batch_size] for start in range(0, len(images), batch_size))
    parts = [function(keras.tree.flatten(taps(batch, training=False))) for batch in batches]
    return [np.concatenate([part[i] for part in parts]) for i in range(len(parts[0]))]


def to_numpy(tensor):
    return np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(tensor, "float32")))


def extract(model, images, block_indices=None, inner=False, pooling=False, batch_size=32):
    """One pass over `images` that returns (block weights, probe weights or None); see `attention_maps`."""
    images = check_images(model, images)
    blocks = attention_blocks(model, block_indices)
    if inner and not all("inner" in inspect.signature(block.attention_probabilities).parameters for block in blocks):
        raise ValueError(
            f"attention_maps(inner=True) reads the inner (word) attention of TNT blocks; model {model.name!r} has "
            "none: leave inner=False."
        )
    probe_layer = attention_pooling(model) if pooling else None
    layers = blocks + ([probe_layer] if probe_layer is not None else [])

    inputs = [keras.tree.flatten(layer.input) for layer in layers]

    def weights_of(values):  # the input tensors of every chosen layer, flat -> each layer's weights
        values = iter(values)
        return [
            to_numpy(layer.attention_probabilities(
                *[next(values) for _ in item], **({"inner": True} if inner and layer is not probe_layer else {})))
            for layer, item in zip(layers, inputs)
        ]

    results = tap(model, [tensor for item in inputs for tensor in item], images, batch_size, weights_of)
    if probe_layer is None:
        return results, None
    return results[:-1], results[-1]


def attention_maps(model, images, block_indices=None, inner=False, batch_size=32):
    """The softmax attention weights of every block of a zoo model for `images`, in block order.

    The weights come from the model's own variables through a separate extraction path: the model's forward
    pass and `predict` are unchanged.

    Args:
        model: a ViT-family zoo model (`keras_vit.create`): ViT, DeiT, a hybrid, TNT; any position encoding.
        images: float array of shape (batch, height, width, channels), normalized as the model expects (see
            `keras_vit.preprocessing`).
        block_indices: indices into `model.layout.blocks` (negative from the end); None: every block.
        inner: for TNT, the inner attention over the words of each patch instead of the outer attention.
        batch_size: images per extraction step.

    Returns:
        A list with one float32 array per block, of shape (batch, num_heads, num_tokens, num_tokens): row i holds
        query token i's weights over the key tokens (prefix tokens such as the class token first, then the patches
        in row-major order); rows sum to 1. With inner=True: (batch, num_patches, inner_num_heads, num_words,
        num_words).

    Raises:
        ValueError: a model without attention (a BiT ResNet), images of another size than the model's, an unknown
            block index, inner=True for a model without words.

    Example:
        >>> maps = keras_vit.attention_maps(model, images)        # [(batch, heads, tokens, tokens)] * num_layers
        >>> last = keras_vit.attention_maps(model, images, block_indices=[-1])[0]
    """
    return extract(model, images, block_indices, inner=inner, batch_size=batch_size)[0]


def pooling_attention(model, images, batch_size=32):
    """The attention weights of a model's attention pooling (MAP: one learned probe attending over the tokens).

    Args:
        model: a zoo model with pooling="map".
        images: float array (batch, height, width, channels), normalized as the model expects.
        batch_size: images per extraction step.

    Returns:
        A float32 array of shape (batch, num_heads, 1, num_tokens); rows sum to 1.
    """
    if attention_pooling(model) is None:
        raise ValueError(
            f"pooling_attention: model {model.name!r} does not pool by attention (pooling='map'); its pooling has "
            "no attention weights. Use attention_maps for the blocks' attention."
        )
    return extract(model, images, block_indices=[], pooling=True, batch_size=batch_size)[1]
