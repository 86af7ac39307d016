"""TNT's patch-level and pixel-level features laid out as images (the TNT paper's figure 3)."""

from keras_vit.explain.attention import check_images, patch_grid, tap, to_numpy
from keras_vit.models.features import block_names


def tnt_feature_maps(model, images, block_indices=None, batch_size=32):
    """The outputs of TNT blocks as feature maps: the patch tokens on the patch grid, and the words ("pixel"
    features) of every patch put back in their place in the image.

    Args:
        model: a TNT zoo model (`keras_vit.create("tnt_s16")`).
        images: float array (batch, height, width, channels), normalized as the model expects.
        block_indices: indices into `model.layout.blocks`; None: every block.
        batch_size: images per step.

    Returns:
        A list with one (patches, pixels) pair per block: patches (batch, rows, columns, hidden_dim) and pixels
        (batch, rows * word_rows, columns * word_columns, inner_dim).
    """
    word_grid = getattr(model, "word_grid_size", None)
    if word_grid is None:
        raise ValueError(
            f"tnt_feature_maps: model {model.name!r} is not a Transformer in Transformer (it has no words inside its "
            "patches); use keras_vit.feature_extractor for its blocks' tokens."
        )
    images = check_images(model, images)
    indices = range(len(model.layout.blocks)) if block_indices is None else block_indices
    names = block_names(model, indices, "tnt_feature_maps")
    outputs = [tensor for name in names for tensor in model.get_layer(name).output]
    flat = tap(model, outputs, images, batch_size, lambda values: [to_numpy(value) for value in values])
    rows, columns = patch_grid(model, images)
    word_rows, word_columns = word_grid
    prefix = model.layout.num_prefix_tokens
    result = []
    for words, tokens in zip(flat[0::2], flat[1::2]):
        batch, inner_dim = len(words), words.shape[-1]
        patches = tokens[:, prefix:].reshape(batch, rows, columns, tokens.shape[-1])
        pixels = words.reshape(batch, rows, columns, word_rows, word_columns, inner_dim)
        pixels = pixels.transpose(0, 1, 3, 2, 4, 5).reshape(batch, rows * word_rows, columns * word_columns, inner_dim)
        result.append((patches, pixels))
    return result
