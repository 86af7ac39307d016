"""Where a prediction looks: attention rollout and the last block's attention of the token the classifier reads, at
patch-grid resolution and upsampled to the image."""

import dataclasses

import keras
import numpy as np

from keras_vit.explain.attention import attention_pooling, check_images, extract, patch_grid


@dataclasses.dataclass(frozen=True)
class Saliency:
    """A map over the image, at two resolutions.

    Attributes:
        grid: weights per patch, shape (batch, [heads,] rows, columns) of the model's patch grid.
        image: the same, bilinearly upsampled to the images' size, shape (batch, [heads,] height, width).
    """

    grid: np.ndarray
    image: np.ndarray


def rollout(maps, residual=True):
    """Attention rollout (Abnar & Zuidema 2020): how much each input token flows into each output token through
    all the blocks.

    Each block's weights are averaged over the heads; with `residual` the skip connection is added as the identity
    and rows renormalized, A_l = (mean_h W_l + I) / 2; the blocks' matrices are multiplied from the last to the
    first: R = A_L ... A_2 A_1.

    Args:
        maps: a list, in block order, of arrays of shape (batch, heads, tokens, tokens) (`attention_maps`).
        residual: add the identity for the residual connections (the paper's rollout); False multiplies the raw
            head-averaged weights.

    Returns:
        R of shape (batch, tokens, tokens): row i holds output token i's share of every input token; rows sum to 1.
    """
    if not len(maps):
        raise ValueError("rollout needs the attention maps of at least one block.")
    result = None
    for weights in maps:
        weights = np.asarray(weights, dtype="float64")
        if weights.ndim != 4 or weights.shape[-1] != weights.shape[-2]:
            raise ValueError(f"rollout takes maps of shape (batch, heads, tokens, tokens); received {weights.shape}.")
        mixed = weights.mean(axis=1)
        if residual:
            mixed = mixed + np.eye(mixed.shape[-1])
            mixed = mixed / mixed.sum(axis=-1, keepdims=True)
        result = mixed if result is None else mixed @ result
    return result.astype("float32")


def readout_rows(model):
    """The rows of the blocks' token sequence that the pooled features are read from (`model.layout.readout`): a
    slice (the class token, or the class and distillation tokens, for token pooling; the patches for average
    pooling), or "probe" for attention pooling. A model without pooling (or with a plugin's that does not say)
    reads the class token, or the mean patch without prefix tokens."""
    if attention_pooling(model) is not None:
        return "probe"
    if model.layout.readout is not None:
        return slice(*model.layout.readout)
    return slice(0, 1) if model.layout.num_prefix_tokens else slice(0, None)


def _saliency(model, images, weights):
    """A Saliency from (..., tokens) weights for these images: the prefix tokens dropped, the patches put on the
    (rows, columns) patch grid, which is bilinearly upsampled to the images' (height, width)."""
    prefix, (rows, columns) = model.layout.num_prefix_tokens, patch_grid(model, images)
    grid = weights[..., prefix:].reshape(*weights.shape[:-1], rows, columns)
    flat = np.asarray(grid, "float32").reshape(-1, rows, columns, 1)
    resized = keras.ops.image.resize(flat, images.shape[1:3], interpolation="bilinear", antialias=False)
    image = np.asarray(keras.ops.convert_to_numpy(resized)).reshape(*grid.shape[:-2], *images.shape[1:3])
    return Saliency(grid=grid, image=image)


def class_token_attention(model, images, block_index=-1, batch_size=32):
    """Per head, the attention that the token the classifier reads gives to every patch, in one block.

    For token pooling that is the class token's row (DeiT's distilled models: the mean of the class and
    distillation rows); for average pooling, the mean row of the patches (the pooled vector averages them); for
    attention pooling (MAP), the probe's weights, which come after the last block (block_index is then ignored).

    Args:
        model: a ViT-family zoo model.
        images: float array (batch, height, width, channels), normalized as the model expects.
        block_index: the block, default the last.
        batch_size: images per extraction step.

    Returns:
        A `Saliency` with grid (batch, heads, rows, columns) and image (batch, heads, height, width): the weights on
        the patch tokens (prefix tokens dropped, so a row sums to at most 1).
    """
    images, rows = check_images(model, images), readout_rows(model)
    if rows == "probe":
        _, probe = extract(model, images, block_indices=[], pooling=True, batch_size=batch_size)
        weights = probe[:, :, 0]
    else:
        weights = extract(model, images, block_indices=[block_index], batch_size=batch_size)[0][0][:, :, rows].mean(2)
    return _saliency(model, images, weights)


def attention_rollout(model, images, residual=True, batch_size=32):
    """Attention rollout of a zoo model for `images`: how much each patch flows, through every block, into the
    token the classifier reads (see `rollout` and `class_token_attention`; for MAP pooling, the probe's
    head-averaged weights times the rollout).

    Args:
        model: a ViT-family zoo model (for TNT, the outer attention).
        images: float array (batch, height, width, channels), normalized as the model expects.
        residual: as in `rollout`.
        batch_size: images per extraction step.

    Returns:
        A `Saliency` with grid (batch, rows, columns) and image (batch, height, width).

    Reference:
        Abnar & Zuidema, "Quantifying Attention Flow in Transformers", ACL 2020.
    """
    images, rows = check_images(model, images), readout_rows(model)
    maps, probe = extract(model, images, pooling=rows == "probe", batch_size=batch_size)
    flow = rollout(maps, residual=residual)
    if rows == "probe":
        weights = np.einsum("bt,bts->bs", probe[:, :, 0].mean(1), flow)
    else:
        weights = flow[:, rows].mean(1)
    return _saliency(model, images, weights)
