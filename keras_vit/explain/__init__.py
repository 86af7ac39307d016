"""See inside the models: attention maps, attention rollout and the papers' figures (docs/explain.md).

Arrays come from the functions below; `keras_vit.explain.plots` turns them into matplotlib figures.

    >>> maps = keras_vit.attention_maps(model, images)            # [(batch, heads, tokens, tokens)] per block
    >>> saliency = keras_vit.attention_rollout(model, images)     # .grid (batch, rows, cols), .image (batch, H, W)
"""

from keras_vit.explain.attention import attention_maps, pooling_attention
from keras_vit.explain.attention_distance import mean_attention_distance
from keras_vit.explain.embedding_filters import embedding_filters
from keras_vit.explain.patch_tsne import patch_tsne
from keras_vit.explain.plots import (
    plot_attention,
    plot_attention_distance,
    plot_embedding_filters,
    plot_patch_tsne,
    plot_position_similarity,
    plot_tnt_features,
)
from keras_vit.explain.position_similarity import position_similarity
from keras_vit.explain.rollout import Saliency, attention_rollout, class_token_attention, rollout
from keras_vit.explain.tnt_features import tnt_feature_maps

__all__ = [
    "Saliency", "attention_maps", "attention_rollout", "class_token_attention",
    "embedding_filters", "mean_attention_distance", "patch_tsne", "plot_attention", "plot_attention_distance",
    "plot_embedding_filters", "plot_patch_tsne", "plot_position_similarity",
    "plot_tnt_features", "plots", "pooling_attention", "position_similarity", "rollout", "tnt_feature_maps",
]
