"""The TNT paper's t-SNE of patch features (figure 4): one block's patch tokens of one or more models, in 2-D."""

import collections

import numpy as np

from keras_vit.explain.attention import check_images, patch_grid, tap, to_numpy
from keras_vit.models.features import feature_extractor
from keras_vit.models.layout import model_layout

# points (n, 2), one per patch of every image of every model; model and image (n,), the indices of its model and
# image; diversity (models,), each model's `cosine_diversity` (of its features, not of the points).
PatchEmbedding = collections.namedtuple("PatchEmbedding", "points model image diversity")


def cosine_diversity(features):
    """Mean cosine distance over all pairs of rows of (n, width) `features` (sum_ij u_i . u_j = |sum_i u_i|^2)."""
    units = features / np.linalg.norm(features, axis=-1, keepdims=True)
    return 1.0 - (np.sum(units.sum(0) ** 2) - len(units)) / (len(units) * (len(units) - 1))


def patch_tsne(models, images, block_index=-1, perplexity=30.0, batch_size=32):
    """One t-SNE (scikit-learn's `TSNE`) of the L2-normalized patch tokens that block `block_index` of each model
    gives for `images` (prefix tokens such as the class token left out; for TNT the patch tokens, not the words).

    Args:
        models: a ViT-family zoo model (ViT, DeiT, a hybrid, TNT) or a list of them, all of one hidden_dim.
        images: float array (batch, height, width, channels) normalized as the models expect, or a list with one
            such array per model (for models of different input sizes), the same images in the same order.
        block_index: index into each model's `layout.blocks` (negative from the end).
        perplexity: t-SNE's; it needs more points (models x images x patches) than this.

    Returns:
        A `PatchEmbedding` of models x images x patches points, in that order; deterministic (PCA initialization).
    """
    models = list(models) if isinstance(models, (list, tuple)) else [models]
    images = list(images) if isinstance(images, (list, tuple)) else [images] * len(models)
    if len(images) != len(models):
        raise ValueError(f"patch_tsne takes one image array, or a list of one array per model ({len(models)}); "
                         f"received a list of {len(images)}.")
    for model in models:
        if not model_layout(model, "patch_tsne").patch_size:
            raise ValueError(f"patch_tsne: model {model.name!r} has no patch tokens (its blocks make feature maps); "
                             "pass ViT-family models (ViT, DeiT, a hybrid, TNT).")
    extractors = [feature_extractor(model, block_indices=[block_index]) for model in models]
    images = [check_images(model, batch) for model, batch in zip(models, images)]
    widths = sorted({int(extractor.outputs[0].shape[-1]) for extractor in extractors})
    total = len(images[0]) * sum(int(np.prod(patch_grid(m, batch))) for m, batch in zip(models, images))
    if len(widths) > 1 or len({len(batch) for batch in images}) > 1:
        raise ValueError(f"patch_tsne embeds the models' features together: they need one width and the same "
                         f"images; received widths {widths} and {[len(batch) for batch in images]} images.")
    if total <= perplexity:
        raise ValueError(f"t-SNE with perplexity {perplexity:g} needs more points than that; {len(models)} model(s) "
                         f"x {len(images[0])} image(s) x their patches give {total}: pass more images or lower "
                         "the perplexity.")
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise ImportError("patch_tsne needs scikit-learn: pip install scikit-learn (or 'keras-vit[explain]').") from None
    features = []
    for model, extractor, batch in zip(models, extractors, images):
        [out] = tap(extractor, extractor.outputs, batch, batch_size, lambda values: [to_numpy(v) for v in values])
        features.append(out[:, model.layout.num_prefix_tokens :].reshape(-1, out.shape[-1]).astype("float64"))
    points = TSNE(perplexity=perplexity, init="pca", random_state=0).fit_transform(
        np.concatenate([f / np.linalg.norm(f, axis=-1, keepdims=True) for f in features]))
    return PatchEmbedding(points, np.repeat(np.arange(len(models)), [len(f) for f in features]),
                          np.concatenate([np.arange(len(f)) * len(images[0]) // len(f) for f in features]),
                          np.array([cosine_diversity(f) for f in features]))
