"""The principal components of the patch-embedding filters (the ViT paper's figure 7, left)."""

import keras
import numpy as np

from keras_vit.models.layout import model_layout
from keras_vit.schema import POSITIVE_INT


def embedding_filters(model, num_components=28):
    """The first principal components of the filters that embed image pixels (ViT's patch embedding; TNT's word
    embedding), each shaped as an image patch.

    Every output channel of the embedding is one filter over a (height, width, channels) patch of pixels; the
    components are the leading right singular vectors of the centered (filters, pixels) matrix.

    Args:
        model: a zoo model whose first stem layer embeds pixels (not a hybrid, whose patch embedding sees ResNet
            features).
        num_components: how many components (28 as the paper shows); fewer when there are fewer filters or
            fewer pixels in a filter.

    Returns:
        (components, explained): float32 arrays of shape (num_components, height, width, channels) and
        (num_components,), the share of the filters' variance each component explains.
    """
    layout = model_layout(model, "embedding_filters")
    channels = model.inputs[0].shape[-1]
    if layout.stem_stride != 1 or not layout.stem:
        raise ValueError(
            f"embedding_filters: model {model.name!r} embeds the features of a convolutional stem, not pixels, so "
            "its embedding filters are not images; use a plain ViT or TNT."
        )
    kernels = [w for w in model.get_layer(layout.stem[0]).weights if len(w.shape) == 4 and w.shape[2] == channels]
    if not kernels:
        raise ValueError(f"embedding_filters: the first stem layer of model {model.name!r} has no convolution over "
                         "the image's pixels.")
    kernel = np.asarray(keras.ops.convert_to_numpy(kernels[0]), "float64")  # (height, width, channels, filters)
    filters = kernel.reshape(-1, kernel.shape[-1]).T
    # no more components than filters, or pixels in a filter
    num_components = min(POSITIVE_INT.check("num_components", num_components), *filters.shape)
    centered = filters - filters.mean(axis=0)
    _, singular, vectors = np.linalg.svd(centered, full_matrices=False)
    explained = singular**2 / np.sum(singular**2)
    components = vectors[:num_components].reshape(num_components, *kernel.shape[:3])
    return components.astype("float32"), explained[:num_components].astype("float32")
