"""Mean attention distance per head against depth (the ViT paper's figure 7, right, and appendix D.7)."""

import numpy as np

from keras_vit.explain.attention import check_images, extract, patch_grid


def patch_distances(grid, image_size):
    """(patches, patches) distances in image pixels between the centers of the patches of a (rows, columns) grid
    over an image of (height, width) pixels."""
    (rows, columns), (height, width) = grid, image_size
    # A grid step covers image / grid pixels (the patch, times a hybrid's stem stride).
    r, c = np.meshgrid(np.arange(rows) * height / rows, np.arange(columns) * width / columns, indexing="ij")
    centers = np.stack([r.ravel(), c.ravel()], axis=-1)
    return np.linalg.norm(centers[:, None] - centers[None], axis=-1)


def mean_attention_distance(model, images, batch_size=32):
    """The average image distance, in pixels, across which each head integrates information: for every query
    patch, the distance to each key patch weighted by the attention between them, averaged over query patches and
    images (the ViT paper's "attention distance", analogous to a CNN's receptive field size).

    Only patch-to-patch attention counts: prefix tokens (the class token) have no place in the image, so their
    rows and columns are dropped and each query's weights over the patches renormalized to sum to 1.

    Args:
        model: a ViT-family zoo model (for TNT, the outer attention).
        images: float array (batch, height, width, channels), normalized as the model expects.
        batch_size: images per extraction step.

    Returns:
        float32 array (num_blocks, num_heads), in pixels of the images.
    """
    images = check_images(model, images)
    maps, _ = extract(model, images, batch_size=batch_size)
    prefix = model.layout.num_prefix_tokens
    distances = patch_distances(patch_grid(model, images), images.shape[1:3])
    result = []
    for weights in maps:
        patches = weights[:, :, prefix:, prefix:].astype("float64")
        patches = patches / np.maximum(patches.sum(-1, keepdims=True), 1e-12)
        result.append(np.einsum("bhij,ij->bhi", patches, distances).mean(axis=(0, 2)))
    return np.stack(result).astype("float32")
